# Checks of the build itself (tests/build/): includes against docs/DESIGN.md's
# layer picture; the GPU code in the kernel objects; an install into a prefix
# and a run of the installed binary from outside the checkout.
find_program(STARBENCH_BUILD_CHECK_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_BUILD_CHECK_PYTHON)
  # No upward include, no include circle between folders or between the files
  # of one folder (the checker, and its own tests on made-up trees).
  add_test(NAME layers_includes
           COMMAND ${STARBENCH_BUILD_CHECK_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/build)
  set_tests_properties(layers_includes PROPERTIES TIMEOUT 60 LABELS "script")
  # Every kernel object holds the SASS/PTX of CMAKE_CUDA_ARCHITECTURES (CI: sm_80 and sm_90 SASS + sm_90 PTX).
  if(TARGET starbench_cuda)
    add_test(NAME cuda_architectures
             COMMAND ${STARBENCH_BUILD_CHECK_PYTHON} ${CMAKE_SOURCE_DIR}/tests/build/check_cuda_archs.py
                     "${CMAKE_CUDA_ARCHITECTURES}" "$<FILTER:$<TARGET_OBJECTS:starbench_cuda>,INCLUDE,\\.cu\\.o$>")
    set_tests_properties(cuda_architectures PROPERTIES TIMEOUT 60 LABELS "script")
  endif()
endif()

if(TARGET starbench)
  add_test(NAME install_prefix_run COMMAND bash ${CMAKE_SOURCE_DIR}/tests/build/installed_run.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(install_prefix_run PROPERTIES TIMEOUT 300 PROCESSORS 2 LABELS "script"
                       ENVIRONMENT "STARBENCH_MPIEXEC=${MPIEXEC_EXECUTABLE}")
endif()
