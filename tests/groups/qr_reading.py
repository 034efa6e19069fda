"""Reading back the QR images we serve, so tests check what a phone would read rather than trusting the encoder:
the modules from a PNG (segno's 1-bit greyscale) or SVG (one path of horizontal runs), then a plain decoder for an
error-free byte-mode QR code (ISO/IEC 18004: format bits, function patterns, zigzag placement, masks, block
interleaving). Only segno's tables of block sizes and alignment positions are borrowed."""

from __future__ import annotations

import re
import struct
import zlib

from segno import consts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MASKS = [
    lambda r, c: (r + c) % 2 == 0,
    lambda r, c: r % 2 == 0,
    lambda r, c: c % 3 == 0,
    lambda r, c: (r + c) % 3 == 0,
    lambda r, c: (r // 2 + c // 3) % 2 == 0,
    lambda r, c: (r * c) % 2 + (r * c) % 3 == 0,
    lambda r, c: ((r * c) % 2 + (r * c) % 3) % 2 == 0,
    lambda r, c: ((r + c) % 2 + (r * c) % 3) % 2 == 0,
]


def png_modules(data: bytes, *, scale: int, border: int) -> list[list[int]]:
    """The module matrix (1 = dark) of a 1-bit greyscale PNG drawn at ``scale`` pixels a module."""
    assert data[:8] == PNG_SIGNATURE
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = header
    assert (depth, colour) == (1, 0), "segno writes 1-bit greyscale for two colours"
    raw, stride = zlib.decompress(idat), (width + 7) // 8
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left, up, corner = line[i - 1] if i else 0, previous[i], previous[i - 1] if i else 0
            line[i] = (line[i] + _predict(kind, left, up, corner)) & 0xFF
        rows.append(line)
        previous = line
    size = width // scale - 2 * border

    def dark(x: int, y: int) -> int:
        return 1 - ((rows[y][x >> 3] >> (7 - (x & 7))) & 1)  # black is 0 in greyscale

    middle = scale // 2
    return [
        [dark((border + c) * scale + middle, (border + r) * scale + middle) for c in range(size)] for r in range(size)
    ]


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def svg_modules(svg: str, *, border: int) -> list[list[int]]:
    """The module matrix of segno's SVG: ``M x y.5`` then ``h n`` (n dark modules) and ``m dx dy`` moves."""
    size = int(re.search(r'width="(\d+)"', svg)[1]) // int(re.search(r"scale\((\d+)\)", svg)[1]) - 2 * border
    matrix = [[0] * size for _ in range(size)]
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([-\d. ]+)", re.search(r' d="([^"]+)"', svg)[1]):
        values = [float(n) for n in numbers.split()]
        if command in "Mm":
            dx, dy = values
            x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
        else:
            for column in range(int(x), int(x + values[0])):
                matrix[int(y) - border][column - border] = 1
            x += values[0]
    return matrix


def decode(matrix: list[list[int]]) -> str:
    """The text of an error-free byte-mode QR code."""
    n = len(matrix)
    version = (n - 17) // 4
    format_bits = sum(matrix[i][8] << i for i in range(6)) | matrix[7][8] << 6 | matrix[8][8] << 7
    format_bits |= matrix[8][7] << 8 | sum(matrix[8][14 - i] << i for i in range(9, 15))
    data = (format_bits ^ 0x5412) >> 10
    level, mask = data >> 3, MASKS[data & 7]
    function = _function_modules(n, version)
    bits = []
    right = n - 1
    while right >= 1:
        if right == 6:
            right = 5
        for vertical in range(n):
            for j in range(2):
                c = right - j
                r = n - 1 - vertical if ((right + 1) & 2) == 0 else vertical
                if not function[r][c]:
                    bits.append(matrix[r][c] ^ int(mask(r, c)))
        right -= 2
    codewords = [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits) - 7, 8)]
    blocks = [ec.num_data for ec in consts.ECC[version][level] for _ in range(ec.num_blocks)]
    data_blocks: list[list[int]] = [[] for _ in blocks]
    position = 0
    for i in range(max(blocks)):
        for b, length in enumerate(blocks):
            if i < length:
                data_blocks[b].append(codewords[position])
                position += 1
    stream = "".join(f"{byte:08b}" for block in data_blocks for byte in block)
    assert stream[:4] == "0100", "byte mode"
    count_bits = 8 if version < 10 else 16
    count = int(stream[4 : 4 + count_bits], 2)
    start = 4 + count_bits
    return bytes(int(stream[start + 8 * i : start + 8 * i + 8], 2) for i in range(count)).decode()


def _function_modules(n: int, version: int) -> list[list[bool]]:
    function = [[False] * n for _ in range(n)]
    for r in range(n):
        for c in range(n):
            finder = (r < 9 and c < 9) or (r < 9 and c >= n - 8) or (r >= n - 8 and c < 9)
            version_info = version >= 7 and ((r < 6 and c >= n - 11) or (c < 6 and r >= n - 11))
            function[r][c] = finder or version_info or r == 6 or c == 6
    if version >= 2:
        centres = consts.ALIGNMENT_POS[version - 2]
        for r0 in centres:
            for c0 in centres:
                if (r0, c0) in ((6, 6), (6, centres[-1]), (centres[-1], 6)):
                    continue
                for r in range(r0 - 2, r0 + 3):
                    for c in range(c0 - 2, c0 + 3):
                        function[r][c] = True
    return function
