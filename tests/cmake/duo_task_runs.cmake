# DuoAttention in accuracy runs (needs the npm tokenizer package, like task_runs_end_to_end).
if(TARGET starbench AND TARGET starbench_tasks)
  add_test(NAME duo_task_runs
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tokenizer/check_duo_task_runs.sh ${CMAKE_BINARY_DIR}
                   $<TARGET_FILE:starbench>)
  set_tests_properties(duo_task_runs PROPERTIES TIMEOUT 600 PROCESSORS 2 RESOURCE_LOCK npm_tokenizer_ref)
endif()
