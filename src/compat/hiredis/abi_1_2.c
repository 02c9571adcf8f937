/* Linked in front of the hiredis build's cargo archive by the Makefile to make the file
 * answering to hiredis 1.2's soname (libhiredis.so.1.1.0, and 1.3's and 1.4's names): it reads
 * the structs of hiredis 1.2 to 1.4, whose layouts are the same (see abi.c). */
const int redcore_hiredis_abi_minor = 2;
