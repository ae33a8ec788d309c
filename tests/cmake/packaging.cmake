# Packaging and portability tests (issue 23): the main build's MPI, starbench
# built against MPICH and run on 2 ranks, the analysis package pip-installed into
# a venv and run from outside the checkout, the container recipes checked.

# The main build is Open MPI's (its tests use Open MPI's mpiexec flags): installing
# MPICH beside it (.ci/setup.sh) must not have moved CMake onto MPICH.
add_test(NAME packaging_main_build_mpi
         COMMAND ${CMAKE_SOURCE_DIR}/tests/packaging/main_build_mpi.sh ${MPIEXEC_EXECUTABLE} "${MPI_CXX_HEADER_DIR}")
set_tests_properties(packaging_main_build_mpi PROPERTIES TIMEOUT 30 LABELS "packaging;script")

# A second, minimal build (the binary only) against MPICH in its own directory, then
# `jobs/local.sh 2 ... run` with mpiexec.mpich. RUN_SERIAL: it compiles on every core.
# ccache, when the main build uses it, makes a rebuild cheap.
add_test(NAME packaging_mpich_build_run
         COMMAND ${CMAKE_SOURCE_DIR}/tests/mpich/run_mpich_test.sh ${CMAKE_BINARY_DIR}/mpich-build)
set_tests_properties(packaging_mpich_build_run PROPERTIES TIMEOUT 1800 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                     LABELS "packaging;mpich;script"
                     ENVIRONMENT "CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER};OMP_NUM_THREADS=1")

find_program(STARBENCH_PACKAGING_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(STARBENCH_PACKAGING_PYTHON)
  add_test(NAME packaging_pip_install
           COMMAND ${CMAKE_SOURCE_DIR}/tests/packaging/pip_install_test.sh)
  set_tests_properties(packaging_pip_install PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 LABELS "packaging;analysis;script"
                       ENVIRONMENT "OMP_NUM_THREADS=1")
  add_test(NAME packaging_container_recipes
           COMMAND ${STARBENCH_PACKAGING_PYTHON} ${CMAKE_SOURCE_DIR}/tests/packaging/check_container_recipes.py
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(packaging_container_recipes PROPERTIES TIMEOUT 60 LABELS "packaging;script")
endif()
