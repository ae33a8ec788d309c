# CLI behaviour tests: shell scripts that run the starbench binary under mpiexec.
if(TARGET starbench)
  # LD_PRELOAD library that makes one directory's file system "full" (tests/cli/disk_full.sh).
  add_library(full_disk_preload MODULE ${CMAKE_SOURCE_DIR}/tests/support/full_disk_preload.c)
  target_link_libraries(full_disk_preload PRIVATE ${CMAKE_DL_LIBS})
  file(GLOB CLI_TEST_SCRIPTS ${CMAKE_SOURCE_DIR}/tests/cli/*.sh)
  list(FILTER CLI_TEST_SCRIPTS EXCLUDE REGEX "common\\.sh$")
  foreach(script ${CLI_TEST_SCRIPTS})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME cli_${name} COMMAND bash ${script})
    set_tests_properties(cli_${name} PROPERTIES TIMEOUT 600 PROCESSORS 2
      ENVIRONMENT "STARBENCH_BIN=$<TARGET_FILE:starbench>;STARBENCH_SOURCE_DIR=${CMAKE_SOURCE_DIR};STARBENCH_FULL_DISK_PRELOAD=$<TARGET_FILE:full_disk_preload>")
  endforeach()
endif()
