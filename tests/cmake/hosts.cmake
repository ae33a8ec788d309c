# Hosts of several GPUs (tests/hosts): the tensor split against one-GPU hosts
# and the HF references, under mpiexec with 4 ranks (2 hosts x 2) and 8 ranks
# (4 x 2 and 2 x 4). Its own executable: the 1-3 rank MPI tests cannot host them.
file(GLOB HOSTS_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/hosts/*.cpp)
if(HOSTS_TEST_SOURCES AND TARGET starbench_core)
  add_executable(test_hosts ${HOSTS_TEST_SOURCES} ${CMAKE_SOURCE_DIR}/tests/mpi/mpi_main.cpp)
  target_link_libraries(test_hosts PRIVATE starbench_core GTest::gtest)
  target_compile_definitions(test_hosts PRIVATE STARBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
                                                STARBENCH_BINARY_DIR="${CMAKE_BINARY_DIR}")
  foreach(ranks 4 8)
    add_test(NAME mpi_hosts_${ranks}ranks
             COMMAND ${MPIEXEC_EXECUTABLE} ${STARBENCH_MPIEXEC_FLAGS} -n ${ranks} $<TARGET_FILE:test_hosts>)
    set_tests_properties(mpi_hosts_${ranks}ranks PROPERTIES TIMEOUT 900 PROCESSORS 2
                         ENVIRONMENT "OMP_NUM_THREADS=1;STARBENCH_COLLECTIVE_TIMEOUT_S=300${STARBENCH_SANITIZER_ENV}")
  endforeach()
  # CI's sanitizer stage builds unit_and_mpi_tests and runs every mpi_* test, these too.
  add_dependencies(unit_and_mpi_tests test_hosts)
endif()
