# td_embed(OUTPUT out.c SYMBOL name FILES a b ...): build-time generation of a C file that
# holds each input file as a byte array, so binaries carry their SQL and descriptors.
# The generated file defines:
#   const td_embedded_file <SYMBOL>[];   (name, data, len), terminated by {NULL, NULL, 0}
#   const size_t <SYMBOL>_count;
set(TD_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake)
function(td_embed)
  cmake_parse_arguments(E "" "OUTPUT;SYMBOL" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUTPUT} -DSYMBOL=${E_SYMBOL} "-DFILES=${E_FILES}"
            -P ${TD_EMBED_SCRIPT}
    DEPENDS ${E_FILES} ${TD_EMBED_SCRIPT}
    COMMENT "Embedding ${E_SYMBOL}"
    VERBATIM)
endfunction()
