# pytest of analysis/ (Python package: report, merge) on /usr/bin/python3, the
# Debian python with h5py/numpy/pandas/matplotlib/pytest. The end-to-end tests
# run `mpiexec -n 2 starbench run` with the binary passed here.
find_program(STARBENCH_SYSTEM_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT STARBENCH_SYSTEM_PYTHON)
  message(STATUS "starbench: /usr/bin/python3 not found: analysis tests not registered")
  return()
endif()
if(TARGET starbench)
  set(STARBENCH_ANALYSIS_TEST_BIN $<TARGET_FILE:starbench>)
else()
  set(STARBENCH_ANALYSIS_TEST_BIN ${CMAKE_BINARY_DIR}/starbench)
endif()
add_test(NAME analysis_pytest
         COMMAND ${STARBENCH_SYSTEM_PYTHON} -m pytest -q -p no:cacheprovider -rs ${CMAKE_SOURCE_DIR}/analysis/tests
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(analysis_pytest PROPERTIES
                     TIMEOUT 600 PROCESSORS 2 LABELS "analysis;script"
                     ENVIRONMENT "PYTHONPATH=${CMAKE_SOURCE_DIR};STARBENCH_BIN=${STARBENCH_ANALYSIS_TEST_BIN};STARBENCH_MPIEXEC=${MPIEXEC_EXECUTABLE};MPLBACKEND=Agg;OMP_NUM_THREADS=1")
