# Fuzz targets: every fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
#  - with ATTEST_FUZZ (clang): linked with libFuzzer as build*/bin/fuzz-<name>;
#  - otherwise: linked with replay_main.c as a program that runs every file of
#    fuzz/corpus/<name>/ once; make check runs it as a test (under the
#    sanitizers in the ASan build), so saved inputs stay regression tests.
file(GLOB FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${FUZZ_TARGETS})
  get_filename_component(base ${src} NAME_WE)
  string(REPLACE "fuzz_" "" name ${base})
  if(ATTEST_FUZZ)
    add_executable(fuzz-${name} ${src})
    target_link_options(fuzz-${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(fuzz-${name} ${src} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
    set_target_properties(fuzz-${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME fuzz-replay/${name}
             COMMAND ${CMAKE_BINARY_DIR}/tests/fuzz-${name} ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(fuzz-replay/${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
  target_link_libraries(fuzz-${name} PRIVATE attest)
endforeach()
