# Unit tests: every tests/unit/test_*.c is one cmocka program and one test.
# Tests run from the project root so that ../shared/testdata resolves.
# A test of program code besides lib/ names it here, as fuzz/fuzz.cmake does:
# UNIT_SOURCES_<name> (extra .c files, whose directory is on the include
# path) and UNIT_LIBS_<name> (libraries). Nothing here opens a TPM or socket.
# Each program runs under tests/unit/run_cmocka.sh, which exits 77 (skipped)
# when every case skipped, e.g. without ../shared/testdata.
set(UNIT_SOURCES_test_api_parse ${CMAKE_SOURCE_DIR}/verifier/api_parse.c)
set(UNIT_LIBS_test_api_parse attest-common)
set(UNIT_SOURCES_test_agent_answer ${CMAKE_SOURCE_DIR}/verifier/agent_answer.c)
set(UNIT_SOURCES_test_agent_request ${CMAKE_SOURCE_DIR}/agent/request.c)
set(UNIT_LIBS_test_fileio attest-common)
set(UNIT_LIBS_test_log attest-common)
set(UNIT_SOURCES_test_host_policy ${CMAKE_SOURCE_DIR}/verifier/host_policy.c)
set(UNIT_LIBS_test_host_policy attest-store)
set(UNIT_SOURCES_test_notify_format ${CMAKE_SOURCE_DIR}/verifier/notify_format.c)
if(NOT ATTEST_FUZZ)
  file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
  foreach(src ${UNIT_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/unit/testutil.c
                   ${UNIT_SOURCES_${name}})
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
    foreach(extra ${UNIT_SOURCES_${name}})
      get_filename_component(extra_dir ${extra} DIRECTORY)
      target_include_directories(${name} PRIVATE ${extra_dir})
    endforeach()
    target_link_libraries(${name} PRIVATE ${UNIT_LIBS_${name}} attest PkgConfig::CMOCKA)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME unit/${name}
             COMMAND bash ${CMAKE_SOURCE_DIR}/tests/unit/run_cmocka.sh ${CMAKE_BINARY_DIR}/tests/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
  endforeach()

  # Test driver for the TPM evidence integration test (MakeCredential, EK certs).
  add_executable(evidence-tool ${CMAKE_SOURCE_DIR}/tests/integration/evidence_tool.c)
  target_link_libraries(evidence-tool PRIVATE attest-common attest)
  set_target_properties(evidence-tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

  # Test-only adversary for test_attacks_*.sh: an agent-in-the-middle that
  # forwards Agent API v1 calls to real agents and rewrites answers.
  add_executable(mitm_agent ${CMAKE_SOURCE_DIR}/tests/integration/mitm_agent.c)
  target_link_libraries(mitm_agent PRIVATE attest-common attest)
  set_target_properties(mitm_agent PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

  # Integration tests: every tests/integration/*.sh drives the real binaries.
  # They get the build's bin directory and start (and stop) their own services.
  file(GLOB INTEG_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.sh)
  # VM hosts (test_vm_*.sh: QEMU without KVM, 20-40 s per boot) run in the
  # normal build only: the agent inside the guest is the code the sanitizer
  # build already tests against swtpm, and a second pass would double the
  # suite's longest tests. One at a time (RESOURCE_LOCK vm): TCG takes a whole
  # core, and the other core runs the rest of the suite beside it. A high COST
  # starts them first even in a fresh build (ctest has no timings yet), so the
  # longest test is not left alone at the end.
  file(GLOB VM_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_vm_*.sh)
  if(ATTEST_SANITIZE AND VM_TESTS)
    list(REMOVE_ITEM INTEG_TESTS ${VM_TESTS})
  endif()
  foreach(src ${INTEG_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME integration/${name} COMMAND bash ${src}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(integration/${name} PROPERTIES LABELS integration TIMEOUT 600
      SKIP_RETURN_CODE 77
      ENVIRONMENT "ATTEST_BIN=${CMAKE_BINARY_DIR}/bin;ATTEST_BUILD=${CMAKE_BINARY_DIR};ATTEST_SANITIZE=$<BOOL:${ATTEST_SANITIZE}>")
  endforeach()
  foreach(src ${VM_TESTS})
    get_filename_component(name ${src} NAME_WE)
    if(TEST integration/${name})
      set_tests_properties(integration/${name} PROPERTIES LABELS "integration;vm" RESOURCE_LOCK vm
        COST 1000 TIMEOUT 900)
    endif()
  endforeach()
  # The Debian packages (test_deb.sh: builds them, dpkg -i on this machine as
  # root, purges them): label deb selects it (ctest -L deb).
  if(TEST integration/test_deb)
    set_tests_properties(integration/test_deb PROPERTIES LABELS "integration;deb" TIMEOUT 900)
  endif()
endif()

# Storage tests: every tests/integration/test_store*.c is a cmocka program
# against real SQLite files (label unit, so the sanitizer build runs them).
if(NOT ATTEST_FUZZ AND TARGET attest-store)
  file(GLOB STORE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_store*.c)
  foreach(src ${STORE_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE attest-store PkgConfig::CMOCKA)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME unit/${name} COMMAND ${CMAKE_BINARY_DIR}/tests/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT 120)
  endforeach()
endif()

# Loopback-only C test programs (cmocka) for the programs' shared I/O code:
# every tests/integration/test_https*.c, linked with attest-common. Labelled
# unit so that make check also runs them under ASan+UBSan+LSan.
if(NOT ATTEST_FUZZ)
  find_package(Threads REQUIRED)
  file(GLOB HTTPS_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_https*.c)
  foreach(src ${HTTPS_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE attest-common PkgConfig::CMOCKA Threads::Threads)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME unit/${name} COMMAND ${CMAKE_BINARY_DIR}/tests/${name}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT 120)
  endforeach()
endif()
