# The APB reference (tests/reference/apb_reference.py, float64 numpy): its self-checks against the committed
# HF data and APB's limits, and the committed apb_* files against what the script makes now.
find_program(STARBENCH_SYSTEM_PYTHON_APB NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_SYSTEM_PYTHON_APB)
  add_test(NAME apb_reference_pytest
           COMMAND ${STARBENCH_SYSTEM_PYTHON_APB} -m pytest -q -p no:cacheprovider
                   ${CMAKE_SOURCE_DIR}/tests/reference/test_apb_reference.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(apb_reference_pytest PROPERTIES TIMEOUT 120 LABELS "script" ENVIRONMENT "OMP_NUM_THREADS=1")
endif()
