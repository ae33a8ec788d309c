# The real-Slurm acceptance test: a one-node Slurm in a temp dir runs
# jobs/single_node.sbatch (tiny model, CPU, 2 tasks; srun --mpi=pmix, then
# mpiexec) and the test checks the HDF5 file. Needs root (it may apt-get
# slurm-wlm and runs slurmd as root). Exit 77 = skipped (no binary).
if(TARGET starbench)
  set(STARBENCH_SLURM_TEST_BIN $<TARGET_FILE:starbench>)
else()
  set(STARBENCH_SLURM_TEST_BIN ${CMAKE_BINARY_DIR}/starbench)
endif()
add_test(NAME slurm_single_node
         COMMAND ${CMAKE_SOURCE_DIR}/tests/slurm/run_slurm_test.sh ${STARBENCH_SLURM_TEST_BIN}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# RUN_SERIAL: it starts daemons and a 2-rank job on a 2-core machine.
set_tests_properties(slurm_single_node PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                     LABELS "slurm;script" ENVIRONMENT "OMP_NUM_THREADS=1")
