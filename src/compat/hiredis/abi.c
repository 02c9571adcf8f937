/* Which hiredis release's caller-allocated structs this build of libhiredis reads.
 *
 * Programs allocate redisSSLOptions themselves (often on the stack) and pass a pointer to it:
 * hiredis 1.5 appended `verify_name` to it (56 bytes; 48 in 1.2 to 1.4) and changed the
 * soname for it. A program built against 1.2, 1.3 or 1.4 runs on the file its soname names
 * (libhiredis.so.1.1.0, .1.3.0, .1.4.0), which must not read past the 48 bytes it was given.
 * The Makefile links that file from the same archive as the 1.5 one, with abi_1_2.c's strong
 * definition of this value in front of the archive; this weak one is the default: hiredis
 * 1.5's layout, which include/hiredis declares (the static archive and libhiredis.so.1.5.0).
 * Not exported (the Makefile's version script lists only hiredis's names). */
__attribute__((weak)) const int redcore_hiredis_abi_minor = 5;
