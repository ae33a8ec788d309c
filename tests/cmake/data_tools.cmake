# pytest of the data converters in jobs/data/ (BABILong -> --task-file JSONL).
find_program(STARBENCH_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_SYSTEM_PYTHON)
  add_test(NAME data_tools_pytest
           COMMAND ${STARBENCH_SYSTEM_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/data_tools
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(data_tools_pytest PROPERTIES TIMEOUT 120 LABELS "script")
endif()
