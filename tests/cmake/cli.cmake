# CLI behaviour tests: shell scripts that run the starbench binary under mpiexec.
if(TARGET starbench)
  file(GLOB CLI_TEST_SCRIPTS ${CMAKE_SOURCE_DIR}/tests/cli/*.sh)
  list(FILTER CLI_TEST_SCRIPTS EXCLUDE REGEX "common\\.sh$")
  foreach(script ${CLI_TEST_SCRIPTS})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME cli_${name} COMMAND bash ${script})
    set_tests_properties(cli_${name} PROPERTIES TIMEOUT 600 PROCESSORS 2
      ENVIRONMENT "STARBENCH_BIN=$<TARGET_FILE:starbench>;STARBENCH_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
