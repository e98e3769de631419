/* A minimal PC/SC reader program in C, for the pcsc-spy capture test: it plays an Android tap's
 * card commands (JPKI application, token label, PIN, certificate, signature over a fixed SHA-256
 * DigestInfo) and, unlike the `pcsc` crate and pyscard, passes a receive PCI to SCardTransmit, so
 * Debian 12's libpcscspy (pcsc-lite 1.9.9, which dereferences it) can log it. */
#include <stdio.h>
#include <string.h>
#include <winscard.h>

static SCARDHANDLE card;
static SCARD_IO_REQUEST recv_pci = { SCARD_PROTOCOL_T1, sizeof(SCARD_IO_REQUEST) };

static int transmit(const BYTE *command, DWORD length, BYTE *answer, DWORD *answer_length) {
    *answer_length = 4096;
    LONG rv = SCardTransmit(card, SCARD_PCI_T1, command, length, &recv_pci, answer, answer_length);
    if (rv != SCARD_S_SUCCESS || *answer_length < 2) {
        fprintf(stderr, "SCardTransmit: %s\n", pcsc_stringify_error(rv));
        return -1;
    }
    return (answer[*answer_length - 2] << 8) | answer[*answer_length - 1];
}

#define SEND(...) do { const BYTE c[] = { __VA_ARGS__ }; sw = transmit(c, sizeof c, answer, &length); if (sw < 0) return 3; } while (0)

int main(int argc, char **argv) {
    SCARDCONTEXT context;
    DWORD protocol, length;
    BYTE answer[4096];
    int sw;
    const char *reader = argc > 1 ? argv[1] : "Virtual PCD 00 00";
    if (SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &context) != SCARD_S_SUCCESS) return 1;
    if (SCardConnect(context, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1, &card, &protocol) != SCARD_S_SUCCESS) return 2;
    SEND(0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00);
    SEND(0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06);
    SEND(0x00, 0xB0, 0x00, 0x00, 0x20);
    SEND(0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18);
    SEND(0x00, 0x20, 0x00, 0x80, 0x04, '1', '2', '3', '4');
    if (sw != 0x9000) return 4;
    SEND(0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A);
    SEND(0x00, 0xB0, 0x00, 0x00, 0x04);
    int total = ((answer[2] << 8) | answer[3]) + 4;
    for (int offset = 0; offset < total; offset += 0xFF) {
        int chunk = total - offset < 0xFF ? total - offset : 0xFF;
        SEND(0x00, 0xB0, (BYTE)(offset >> 8), (BYTE)offset, (BYTE)chunk);
    }
    SEND(0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17);
    SEND(0x80, 0x2A, 0x00, 0x80, 0x33,
         0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
         0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
         0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x00);
    if (sw != 0x9000) return 5;
    SCardDisconnect(card, SCARD_RESET_CARD);
    SCardReleaseContext(context);
    printf("signed: %lu bytes\n", (unsigned long)(length - 2));
    return 0;
}
