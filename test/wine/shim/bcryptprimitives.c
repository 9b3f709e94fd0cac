/*
 * bcryptprimitives.dll for Wine 8: Go's Windows runtime (1.22+) imports
 * ProcessPrng from bcryptprimitives.dll, which Wine 8 does not ship. This
 * shim exports it and fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine does implement. Test use only: the Wine
 * tier (scripts/wine-tier.sh) builds it with mingw and copies it into the
 * prefix's system32. Real Windows has the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG; fill large requests in chunks. */
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
