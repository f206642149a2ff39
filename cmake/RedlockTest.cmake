# RedlockTest.cmake: redlock_add_test(), one cmocka test program registered
# with ctest (after libssh's add_cmocka_test).
#
#   redlock_add_test(NAME test_quorum
#                    SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_quorum.c
#                    LABELS unit
#                    TIMEOUT 60)
#
# Each test is its own executable and so its own process (libuv runs every
# test in a child for the same reason: a crash or hang stays in one test).
# It links the static library, so internal redlock__ functions are callable,
# plus the Redis fixture in tests/support, and has src/ on its include path.
#
# Skips are visible: every test program is linked with
# tests/support/cmocka_skip.c and wraps cmocka's _skip and
# _cmocka_run_group_tests (-Wl,--wrap), so a program in which no test
# failed but one called skip() exits 77, and ctest, told so by the
# SKIP_RETURN_CODE property, reports it as "Skipped" rather than "Passed".
#
# TIMEOUT is in seconds and is multiplied by REDLOCK_TEST_TIMEOUT_MULTIPLIER
# (by default 1, or 3 in sanitizer builds, where everything is slower), as
# libuv scales its runner with UV_TEST_TIMEOUT_MULTIPLIER.
#
# Expects these to exist before it is called: the targets redlock_static,
# redlock_testsupport, PkgConfig::CMOCKA, PkgConfig::HIREDIS,
# PkgConfig::SODIUM and Threads::Threads, and the variables set by
# Sanitizers.cmake.

# Empty means "automatic": 3 in sanitizer builds, 1 otherwise.
set(REDLOCK_TEST_TIMEOUT_MULTIPLIER "" CACHE STRING
    "Factor applied to every test's TIMEOUT (positive integer; empty: 3 with REDLOCK_SANITIZE, else 1)")
if(REDLOCK_TEST_TIMEOUT_MULTIPLIER STREQUAL "")
    if(REDLOCK_SANITIZE)
        set(REDLOCK_TEST_TIMEOUT_FACTOR 3)
    else()
        set(REDLOCK_TEST_TIMEOUT_FACTOR 1)
    endif()
elseif(REDLOCK_TEST_TIMEOUT_MULTIPLIER MATCHES "^[1-9][0-9]*$")
    set(REDLOCK_TEST_TIMEOUT_FACTOR ${REDLOCK_TEST_TIMEOUT_MULTIPLIER})
else()
    message(FATAL_ERROR "REDLOCK_TEST_TIMEOUT_MULTIPLIER must be a positive "
                        "integer, not '${REDLOCK_TEST_TIMEOUT_MULTIPLIER}'")
endif()

# Environment for every test. Sanitizer runtimes read their options from
# here; the options make the first report fail the test loudly.
set(REDLOCK_TEST_ENVIRONMENT "")
if(REDLOCK_SANITIZE_ADDRESS)
    list(APPEND REDLOCK_TEST_ENVIRONMENT
         "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1")
    if(EXISTS "${PROJECT_SOURCE_DIR}/tests/lsan.supp")
        list(APPEND REDLOCK_TEST_ENVIRONMENT
             "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0")
    endif()
endif()
if(REDLOCK_SANITIZE_UNDEFINED)
    list(APPEND REDLOCK_TEST_ENVIRONMENT
         "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
if(REDLOCK_SANITIZE_THREAD)
    set(_redlock_tsan "halt_on_error=1:second_deadlock_stack=1")
    list(APPEND REDLOCK_TEST_ENVIRONMENT "TSAN_OPTIONS=${_redlock_tsan}")
    unset(_redlock_tsan)
endif()
# The Redis fixture honours $REDIS_SERVER; point it at the binary configure
# found, so tests do not depend on PATH under ctest.
if(REDLOCK_REDIS_SERVER)
    list(APPEND REDLOCK_TEST_ENVIRONMENT "REDIS_SERVER=${REDLOCK_REDIS_SERVER}")
endif()
# Likewise $REDIS_CLI and $REDIS_SENTINEL for the cluster and Sentinel
# fixtures.
if(REDLOCK_REDIS_CLI)
    list(APPEND REDLOCK_TEST_ENVIRONMENT "REDIS_CLI=${REDLOCK_REDIS_CLI}")
endif()
if(REDLOCK_REDIS_SENTINEL)
    list(APPEND REDLOCK_TEST_ENVIRONMENT
         "REDIS_SENTINEL=${REDLOCK_REDIS_SENTINEL}")
endif()

# redlock_add_test(NAME <name> SOURCES <file>... [LABELS <label>...]
#                  [TIMEOUT <seconds>])
#
# Builds executable <name> from SOURCES into ${PROJECT_BINARY_DIR}/tests and
# registers it as ctest test <name> with the given labels and the scaled
# timeout (default 60 s).
function(redlock_add_test)
    cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME;TIMEOUT" "SOURCES;LABELS")
    if(ARG_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR
            "redlock_add_test: unexpected arguments: ${ARG_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT ARG_NAME OR NOT ARG_SOURCES)
        message(FATAL_ERROR "redlock_add_test: NAME and SOURCES are required")
    endif()
    if(TARGET ${ARG_NAME})
        message(FATAL_ERROR "redlock_add_test: a target named '${ARG_NAME}' "
                            "already exists (two test files with one name?)")
    endif()
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 60)
    endif()
    math(EXPR _timeout "${ARG_TIMEOUT} * ${REDLOCK_TEST_TIMEOUT_FACTOR}")

    add_executable(${ARG_NAME} ${ARG_SOURCES}
        "${PROJECT_SOURCE_DIR}/tests/support/cmocka_skip.c")
    target_link_options(${ARG_NAME} PRIVATE
        "LINKER:--wrap=_skip"
        "LINKER:--wrap=_cmocka_run_group_tests")
    target_include_directories(${ARG_NAME} PRIVATE
        "${PROJECT_SOURCE_DIR}/src"
        "${PROJECT_SOURCE_DIR}/tests")
    # The source tree, for tests that read files from it (test_docs).
    target_compile_definitions(${ARG_NAME} PRIVATE REDLOCK_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    target_link_libraries(${ARG_NAME} PRIVATE
        redlock_static
        redlock_testsupport
        PkgConfig::CMOCKA
        PkgConfig::HIREDIS
        PkgConfig::SODIUM
        Threads::Threads)
    set_target_properties(${ARG_NAME} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")

    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES
        TIMEOUT ${_timeout}
        LABELS "${ARG_LABELS}"
        SKIP_RETURN_CODE 77)
    if(REDLOCK_TEST_ENVIRONMENT)
        set_tests_properties(${ARG_NAME} PROPERTIES
            ENVIRONMENT "${REDLOCK_TEST_ENVIRONMENT}")
    endif()
endfunction()

# redlock_add_corpus_test(NAME <fuzz_name> [SOURCES <file>...]
#                         [INCLUDES <dir>...] [LIBS <target>...])
#
# Replays the seed corpus of libFuzzer harness tests/fuzz/<fuzz_name>.c
# without libFuzzer: builds <fuzz_name>_replay from the harness,
# tests/fuzz/replay_main.c and SOURCES (what the harness tests, compiled
# in, as the fuzz build does), and registers ctest test <fuzz_name>_corpus
# (label fuzz) over tests/fuzz/corpus/<name without fuzz_>. gcc builds it,
# so the normal and sanitizer builds run every seed; an empty corpus
# fails.
function(redlock_add_corpus_test)
    cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME" "SOURCES;INCLUDES;LIBS")
    if(ARG_UNPARSED_ARGUMENTS OR NOT ARG_NAME)
        message(FATAL_ERROR "redlock_add_corpus_test: bad arguments")
    endif()
    string(REGEX REPLACE "^fuzz_" "" _short "${ARG_NAME}")
    set(_target ${ARG_NAME}_replay)
    add_executable(${_target}
        "${PROJECT_SOURCE_DIR}/tests/fuzz/${ARG_NAME}.c"
        "${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c"
        ${ARG_SOURCES})
    target_include_directories(${_target} PRIVATE
        "${PROJECT_SOURCE_DIR}/include"
        "${REDLOCK_GENERATED_INCLUDE_DIR}"
        "${PROJECT_SOURCE_DIR}/src"
        ${ARG_INCLUDES})
    target_link_libraries(${_target} PRIVATE ${ARG_LIBS})
    set_target_properties(${_target} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
    math(EXPR _timeout "60 * ${REDLOCK_TEST_TIMEOUT_FACTOR}")
    add_test(NAME ${ARG_NAME}_corpus
             COMMAND ${_target}
                     "${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${_short}")
    set_tests_properties(${ARG_NAME}_corpus PROPERTIES
        LABELS fuzz
        TIMEOUT ${_timeout})
    if(REDLOCK_TEST_ENVIRONMENT)
        set_tests_properties(${ARG_NAME}_corpus PROPERTIES
            ENVIRONMENT "${REDLOCK_TEST_ENVIRONMENT}")
    endif()
endfunction()
