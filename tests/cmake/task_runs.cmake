# End-to-end accuracy runs for every task (needs the npm tokenizer package).
if(TARGET starbench AND TARGET starbench_tasks)
  add_test(NAME task_runs_end_to_end
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tokenizer/check_task_runs.sh ${CMAKE_BINARY_DIR}
                   $<TARGET_FILE:starbench>)
  set_tests_properties(task_runs_end_to_end PROPERTIES TIMEOUT 900 PROCESSORS 2 RESOURCE_LOCK npm_tokenizer_ref)
endif()
