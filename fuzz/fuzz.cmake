# Fuzz targets: every fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
#  - with ATTEST_FUZZ (clang): linked with libFuzzer as build*/bin/fuzz-<name>;
#  - otherwise: linked with replay_main.c as a program that runs every file of
#    fuzz/corpus/<name>/ once; make check runs it as a test (under the
#    sanitizers in the ASan build), so saved inputs stay regression tests.
#  - a target that needs program code besides lib/ names it below:
#    FUZZ_SOURCES_<name> (extra .c files) and FUZZ_LIBS_<name> (libraries);
#    nothing here may open a TPM, a file or a socket.
set(FUZZ_SOURCES_agent_request ${CMAKE_SOURCE_DIR}/agent/request.c)
set(FUZZ_SOURCES_verifier_request ${CMAKE_SOURCE_DIR}/verifier/agent_answer.c
                                  ${CMAKE_SOURCE_DIR}/verifier/api_parse.c)
set(FUZZ_LIBS_verifier_request attest-common)
file(GLOB FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${FUZZ_TARGETS})
  get_filename_component(base ${src} NAME_WE)
  string(REPLACE "fuzz_" "" name ${base})
  if(ATTEST_FUZZ)
    add_executable(fuzz-${name} ${src} ${FUZZ_SOURCES_${name}})
    target_link_options(fuzz-${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(fuzz-${name} ${src} ${FUZZ_SOURCES_${name}} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
    set_target_properties(fuzz-${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME fuzz-replay/${name}
             COMMAND ${CMAKE_BINARY_DIR}/tests/fuzz-${name} ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(fuzz-replay/${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
  target_link_libraries(fuzz-${name} PRIVATE ${FUZZ_LIBS_${name}} attest)
endforeach()
