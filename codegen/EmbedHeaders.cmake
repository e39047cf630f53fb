# Writes the CPU runtime headers into a C++ initializer list of
# {file name, contents}, so that mixc carries them and needs no source tree.
set(out "")
string(REPLACE "|" ";" HEADERS "${HEADERS}")
foreach(h ${HEADERS})
  get_filename_component(n ${h} NAME)
  file(READ ${h} text)
  string(APPEND out "{\"${n}\", R\"MIXC_EMBED(${text})MIXC_EMBED\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "${out}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
