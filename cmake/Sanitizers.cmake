# Sanitizers.cmake: REDLOCK_SANITIZE, a build-wide switch for gcc/clang
# sanitizers, in the manner of libuv's ASAN/TSAN options.
#
#   cmake -DREDLOCK_SANITIZE=address,undefined ..   # ASan + UBSan (+ LSan)
#   cmake -DREDLOCK_SANITIZE=thread ..              # TSan
#
# The flags go on every compile and link line in this directory and below
# (library, tests, tools, bench, examples), because mixing instrumented and
# uninstrumented code hides reports (TSan) or breaks the link (ASan).
# -fno-sanitize-recover=all makes the first UBSan report fail the test, as
# curl's CI does; -g and -fno-omit-frame-pointer keep the stack traces
# readable.
#
# After include()ing this file, REDLOCK_SANITIZE_ADDRESS,
# REDLOCK_SANITIZE_UNDEFINED and REDLOCK_SANITIZE_THREAD are TRUE or FALSE,
# so RedlockTest.cmake can pick the matching *SAN_OPTIONS.

set(REDLOCK_SANITIZE "" CACHE STRING
    "Sanitizers to build with: empty (none), address,undefined, or thread")
set_property(CACHE REDLOCK_SANITIZE PROPERTY STRINGS
             "" "address,undefined" "address" "undefined" "thread")

set(REDLOCK_SANITIZE_ADDRESS FALSE)
set(REDLOCK_SANITIZE_UNDEFINED FALSE)
set(REDLOCK_SANITIZE_THREAD FALSE)

if(REDLOCK_SANITIZE)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "^(GNU|Clang|AppleClang)$")
        message(FATAL_ERROR
            "REDLOCK_SANITIZE needs gcc or clang, not ${CMAKE_C_COMPILER_ID}")
    endif()

    # Accept "address,undefined", "thread" and the like; reject typos early
    # rather than as an obscure compiler error.
    string(REPLACE "," ";" _redlock_san_list "${REDLOCK_SANITIZE}")
    foreach(_san IN LISTS _redlock_san_list)
        if(_san STREQUAL "address")
            set(REDLOCK_SANITIZE_ADDRESS TRUE)
        elseif(_san STREQUAL "undefined")
            set(REDLOCK_SANITIZE_UNDEFINED TRUE)
        elseif(_san STREQUAL "thread")
            set(REDLOCK_SANITIZE_THREAD TRUE)
        else()
            message(FATAL_ERROR
                "REDLOCK_SANITIZE: unknown sanitizer '${_san}' (use "
                "\"address,undefined\" or \"thread\")")
        endif()
    endforeach()
    if(REDLOCK_SANITIZE_THREAD AND REDLOCK_SANITIZE_ADDRESS)
        message(FATAL_ERROR
            "REDLOCK_SANITIZE: thread and address cannot be combined; "
            "make two build directories")
    endif()

    set(_redlock_san_flags
        -fsanitize=${REDLOCK_SANITIZE}
        -fno-omit-frame-pointer
        -fno-sanitize-recover=all
        -g)
    add_compile_options(${_redlock_san_flags})
    add_link_options(${_redlock_san_flags})
    message(STATUS "redlock: building with -fsanitize=${REDLOCK_SANITIZE}")
    unset(_redlock_san_flags)
    unset(_redlock_san_list)
endif()
