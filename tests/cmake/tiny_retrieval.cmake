# The tiny retrieval model (tests/reference/data/tiny-retrieval): global/ring/star
# accuracy on 2 ranks. Skipped (exit 77) while the model is not committed.
if(TARGET starbench)
  add_test(NAME tiny_retrieval_accuracy
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/reference/tiny_retrieval/ci_accuracy.sh $<TARGET_FILE:starbench>
                   ${CMAKE_SOURCE_DIR})
  set_tests_properties(tiny_retrieval_accuracy PROPERTIES TIMEOUT 400 PROCESSORS 2 SKIP_RETURN_CODE 77)
endif()

# The training pipeline's pieces that need no GPU (tests/reference/tiny_retrieval/test_pipeline.py):
# data and scoring always; the torch model checks where torch is installed (skipped, and said so, elsewhere).
find_program(STARBENCH_SYSTEM_PYTHON_TR NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_SYSTEM_PYTHON_TR AND TARGET starbench)
  add_test(NAME tiny_retrieval_pytest
           COMMAND ${STARBENCH_SYSTEM_PYTHON_TR} -m pytest -q -p no:cacheprovider -rs
                   ${CMAKE_SOURCE_DIR}/tests/reference/tiny_retrieval
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(tiny_retrieval_pytest PROPERTIES TIMEOUT 300 LABELS "script"
                       ENVIRONMENT "STARBENCH_BIN=$<TARGET_FILE:starbench>;OMP_NUM_THREADS=1")
endif()
