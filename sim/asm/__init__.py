"""The assembler's parts (sim.assembler is the entry point and pass 1's line loop):

  source_line  where a line is (Where, for Sites and errors), its operands (Arg, split_args)
  line_forms   the compiled regular expressions that read the common instruction lines whole
  files        source and .include files, substitutions of variants, displayed paths
  macros       .macro ... .endm: recording bodies, expanding invocations
  data         the data layout and the directives that define data and constants; names in
               expressions
  encode       pass 2: operands encoded by sim.isa's signatures, Sites
"""
