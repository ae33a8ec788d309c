# Includes follow docs/DESIGN.md's layer picture: no upward include, no include
# circle between folders or between the files of one folder (the checker, and
# its own tests on made-up trees).
find_program(STARBENCH_LAYERS_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_LAYERS_PYTHON)
  add_test(NAME layers_includes
           COMMAND ${STARBENCH_LAYERS_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/layers)
  set_tests_properties(layers_includes PROPERTIES TIMEOUT 60 LABELS "script")
endif()
