# The tiny retrieval model (tests/reference/data/tiny-retrieval): global/ring/star
# accuracy on 2 ranks. Skipped (exit 77) while the model is not committed.
if(TARGET starbench)
  add_test(NAME tiny_retrieval_accuracy
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/reference/tiny_retrieval/ci_accuracy.sh $<TARGET_FILE:starbench>
                   ${CMAKE_SOURCE_DIR})
  set_tests_properties(tiny_retrieval_accuracy PROPERTIES TIMEOUT 400 PROCESSORS 2 SKIP_RETURN_CODE 77)
endif()
