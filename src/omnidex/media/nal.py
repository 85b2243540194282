"""H.264 / H.265 NAL units, read from the bitstream itself (ITU-T H.264 and H.265, written from the spec).

What a decoder sees before it decodes: the NAL units inside one packet (length-prefixed as MP4
and Matroska store them, sized by the ``avcC``/``hvcC`` record's ``lengthSizeMinusOne``, or Annex B
start codes as raw streams and MPEG-TS carry them), their types (IDR/CRA, slices, SPS/PPS/VPS, SEI),
each slice's type (I/P/B) from the first exp-Golomb fields of its header, and enough of the
parameter sets to name the profile, level and picture size.

Everything here reads untrusted bytes: a short or malformed unit gives ``None`` fields and an entry
under ``"errors"``, never an exception other than :class:`NalError` from the low-level readers
(which the public functions catch).
"""
from __future__ import annotations

MAX_NALS_PER_PACKET = 4096  # units listed per packet; more is reported, not listed
MAX_PARAM_SET_BYTES = 4096  # bytes of an SPS/PPS/VPS looked at (real ones are tens of bytes)

H264_NAL_NAMES = {
    1: "slice", 2: "slice_part_a", 3: "slice_part_b", 4: "slice_part_c", 5: "IDR", 6: "SEI", 7: "SPS",
    8: "PPS", 9: "AUD", 10: "end_of_seq", 11: "end_of_stream", 12: "filler", 13: "SPS_ext", 14: "prefix",
    15: "subset_SPS", 19: "aux_slice", 20: "slice_ext",
}
H265_NAL_NAMES = {
    0: "TRAIL_N", 1: "TRAIL_R", 2: "TSA_N", 3: "TSA_R", 4: "STSA_N", 5: "STSA_R", 6: "RADL_N", 7: "RADL_R",
    8: "RASL_N", 9: "RASL_R", 16: "BLA_W_LP", 17: "BLA_W_RADL", 18: "BLA_N_LP", 19: "IDR_W_RADL",
    20: "IDR_N_LP", 21: "CRA", 32: "VPS", 33: "SPS", 34: "PPS", 35: "AUD", 36: "EOS", 37: "EOB", 38: "FD",
    39: "SEI_prefix", 40: "SEI_suffix",
}
H264_SLICE_TYPES = {0: "P", 1: "B", 2: "I", 3: "SP", 4: "SI"}  # slice_type % 5
H265_SLICE_TYPES = {0: "B", 1: "P", 2: "I"}
H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2",
                 244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4 Intra"}
H265_PROFILES = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Range Extensions"}
# H.264 profiles whose SPS carries chroma_format_idc and bit depths (7.3.2.1.1)
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class NalError(ValueError):
    """A NAL unit or parameter set ends early or holds a value out of range."""


class BitReader:
    """Big-endian bit reader over an RBSP (emulation prevention already removed)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0  # in bits

    def u(self, n: int) -> int:
        """Read ``n`` bits as an unsigned integer."""
        if n == 0:
            return 0
        if self.pos + n > len(self.data) * 8:
            raise NalError("read past the end of the unit")
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        """Unsigned exp-Golomb code ue(v) (9.1): leading zeros, a one, then as many info bits."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise NalError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed exp-Golomb code se(v)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def skip(self, n: int) -> None:
        """Skip ``n`` bits (bounds-checked)."""
        if self.pos + n > len(self.data) * 8:
            raise NalError("read past the end of the unit")
        self.pos += n


def unescape(data: bytes) -> bytes:
    """The RBSP of a NAL payload: every 0x000003 emulation-prevention byte dropped."""
    if b"\x00\x00\x03" not in data:
        return data
    out = bytearray()
    zeros = 0
    for b in data:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def split_length_prefixed(data: bytes, length_size: int) -> tuple[list[bytes], str | None]:
    """NAL units of an MP4/Matroska sample: each preceded by its size in ``length_size`` bytes.

    Returns:
        (units, error): error says where the sizes stopped making sense (None when all fit).
    """
    units: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(units) >= MAX_NALS_PER_PACKET:
            return units, f"more than {MAX_NALS_PER_PACKET} NAL units; the rest not listed"
        if pos + length_size > len(data):
            return units, f"{len(data) - pos} stray byte(s) after the last NAL unit"
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if size == 0:
            return units, f"a NAL unit of size 0 at byte {pos - length_size}"
        if pos + size > len(data):
            units.append(data[pos:])
            return units, f"NAL unit at byte {pos - length_size} claims {size} bytes, {len(data) - pos} left"
        units.append(data[pos:pos + size])
        pos += size
    return units, None


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (start codes 00 00 01 / 00 00 00 01)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and len(starts) < MAX_NALS_PER_PACKET:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    units = []
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        unit = data[s:end]
        while unit.endswith(b"\x00"):  # trailing_zero_8bits / the 4-byte start code's leading zero
            unit = unit[:-1]
        if unit:
            units.append(unit)
    return units


def is_annexb(data: bytes) -> bool:
    """Whether ``data`` starts with an Annex B start code."""
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


# ---------------------------------------------------------------------------------------------- H.264


def h264_sps(nal: bytes) -> dict:
    """Profile, level, id and picture size of an H.264 sequence parameter set (7.3.2.1.1).

    Args:
        nal: the whole NAL unit including its one-byte header.
    Returns:
        {"profile_idc", "profile", "constraint_flags", "level_idc", "level", "sps_id", "chroma_format_idc",
        "bit_depth", "width", "height", "frame_mbs_only"}; fields past a damaged spot are absent and
        "error" says why.
    """
    out: dict = {}
    try:
        r = BitReader(unescape(nal[1:MAX_PARAM_SET_BYTES]))
        out["profile_idc"] = profile = r.u(8)
        out["profile"] = H264_PROFILES.get(profile)
        out["constraint_flags"] = r.u(8)
        out["level_idc"] = r.u(8)
        out["level"] = out["level_idc"] / 10
        out["sps_id"] = r.ue()
        chroma = 1
        if profile in _H264_HIGH_PROFILES:
            chroma = r.ue()
            if chroma == 3:
                r.u(1)  # separate_colour_plane_flag
            out["bit_depth"] = 8 + r.ue()
            r.ue()  # bit_depth_chroma_minus8
            r.u(1)  # qpprime_y_zero_transform_bypass_flag
            if r.u(1):  # seq_scaling_matrix_present_flag
                for i in range(8 if chroma != 3 else 12):
                    if r.u(1):
                        _skip_scaling_list(r, 16 if i < 6 else 64)
        else:
            out["bit_depth"] = 8
        out["chroma_format_idc"] = chroma
        out["log2_max_frame_num"] = r.ue() + 4
        poc_type = r.ue()
        if poc_type == 0:
            r.ue()  # log2_max_pic_order_cnt_lsb_minus4
        elif poc_type == 1:
            r.u(1)
            r.se()
            r.se()
            cycle = r.ue()
            if cycle > 255:
                raise NalError(f"num_ref_frames_in_pic_order_cnt_cycle {cycle} > 255")
            for _ in range(cycle):
                r.se()
        r.ue()  # max_num_ref_frames
        r.u(1)  # gaps_in_frame_num_value_allowed_flag
        w_mbs = r.ue() + 1
        h_units = r.ue() + 1
        frame_mbs_only = r.u(1)
        out["frame_mbs_only"] = bool(frame_mbs_only)
        if not frame_mbs_only:
            r.u(1)  # mb_adaptive_frame_field_flag
        r.u(1)  # direct_8x8_inference_flag
        width = w_mbs * 16
        height = h_units * 16 * (2 - frame_mbs_only)
        if r.u(1):  # frame_cropping_flag
            left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
            sub_w = 2 if chroma in (1, 2) else 1
            sub_h = 2 if chroma == 1 else 1
            crop_x = sub_w if chroma else 1
            crop_y = (sub_h if chroma else 1) * (2 - frame_mbs_only)
            width -= crop_x * (left + right)
            height -= crop_y * (top + bottom)
        out["width"], out["height"] = width, height
    except NalError as exc:
        out["error"] = f"SPS: {exc}"
    return out


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def h264_slice_type(nal: bytes) -> str | None:
    """I/P/B/SP/SI of an H.264 slice: ``first_mb_in_slice`` ue(v) then ``slice_type`` ue(v) (7.3.3)."""
    try:
        r = BitReader(unescape(nal[1:32]))
        r.ue()  # first_mb_in_slice
        kind = r.ue()
    except NalError:
        return None
    return H264_SLICE_TYPES.get(kind % 5) if kind <= 9 else None


def h264_first_mb(nal: bytes) -> int | None:
    """``first_mb_in_slice`` of an H.264 slice (0 for a picture's first slice)."""
    try:
        return BitReader(unescape(nal[1:16])).ue()
    except NalError:
        return None


# ---------------------------------------------------------------------------------------------- H.265


def _h265_profile_tier_level(r: BitReader, max_sub_layers_minus1: int) -> dict:
    """general_profile_space .. general_level_idc, sub-layer fields skipped (7.3.3)."""
    r.u(2)  # general_profile_space
    tier = r.u(1)
    profile = r.u(5)
    r.skip(32)  # general_profile_compatibility_flags
    r.skip(48)  # progressive/interlaced/non_packed/frame_only + 43 reserved + inbld
    level = r.u(8)
    present = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))
    for profile_present, level_present in present:
        r.skip(88 * profile_present + 8 * level_present)
    return {"profile_idc": profile, "profile": H265_PROFILES.get(profile), "tier": "High" if tier else "Main",
            "level_idc": level, "level": level / 30}


def h265_sps(nal: bytes) -> dict:
    """Profile, tier, level, id and picture size of an H.265 sequence parameter set (7.3.2.2).

    Args:
        nal: the whole NAL unit including its two-byte header.
    Returns:
        {"profile_idc", "profile", "tier", "level_idc", "level", "sps_id", "chroma_format_idc", "width",
        "height", "bit_depth", "log2_ctb_size"}; "error" when it ends early.
    """
    out: dict = {}
    try:
        r = BitReader(unescape(nal[2:MAX_PARAM_SET_BYTES]))
        r.u(4)  # sps_video_parameter_set_id
        sub_layers = r.u(3)
        r.u(1)  # sps_temporal_id_nesting_flag
        out.update(_h265_profile_tier_level(r, sub_layers))
        out["sps_id"] = r.ue()
        chroma = out["chroma_format_idc"] = r.ue()
        if chroma == 3:
            r.u(1)
        width, height = r.ue(), r.ue()
        coded_w, coded_h = width, height
        if r.u(1):  # conformance_window_flag
            left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
            sub_w = 2 if chroma in (1, 2) else 1
            sub_h = 2 if chroma == 1 else 1
            width -= sub_w * (left + right)
            height -= sub_h * (top + bottom)
        out["width"], out["height"] = width, height
        out["bit_depth"] = 8 + r.ue()
        r.ue()  # bit_depth_chroma_minus8
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
        ordering = r.u(1)
        for _ in range(0 if ordering else sub_layers, sub_layers + 1):
            r.ue()
            r.ue()
            r.ue()
        min_cb = r.ue() + 3
        out["log2_ctb_size"] = min_cb + r.ue()
        ctb = 1 << min(out["log2_ctb_size"], 16)
        out["pic_size_in_ctbs"] = _ceil_div(coded_w, ctb) * _ceil_div(coded_h, ctb)
    except NalError as exc:
        out["error"] = f"SPS: {exc}"
    return out


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b) if b > 0 else 0


def h265_pps(nal: bytes) -> dict:
    """The H.265 PPS fields a slice header needs to be read (7.3.2.3.1)."""
    out: dict = {}
    try:
        r = BitReader(unescape(nal[2:MAX_PARAM_SET_BYTES]))
        out["pps_id"] = r.ue()
        out["sps_id"] = r.ue()
        out["dependent_slice_segments_enabled"] = r.u(1)
        out["output_flag_present"] = r.u(1)
        out["num_extra_slice_header_bits"] = r.u(3)
    except NalError as exc:
        out["error"] = f"PPS: {exc}"
    return out


def h265_slice_type(nal: bytes, pps: dict[int, dict], sps: dict[int, dict]) -> tuple[str | None, bool | None]:
    """(I/P/B, first slice segment of its picture) of an H.265 slice segment (7.3.6.1).

    The slice type follows ``first_slice_segment_in_pic_flag``, ``no_output_of_prior_pics_flag`` (IRAP
    units), ``slice_pic_parameter_set_id``, for later segments ``dependent_slice_segment_flag`` and
    ``slice_segment_address``, then ``num_extra_slice_header_bits`` from the PPS. Without the PPS (or
    the SPS for a later segment) the type is None.
    """
    nal_type = (nal[0] >> 1) & 0x3F
    try:
        r = BitReader(unescape(nal[2:48]))
        first = bool(r.u(1))
        if 16 <= nal_type <= 23:
            r.u(1)  # no_output_of_prior_pics_flag
        p = pps.get(r.ue())
        if p is None or "error" in p:
            return None, first
        if not first:
            if p["dependent_slice_segments_enabled"] and r.u(1):
                return None, first  # a dependent segment carries no slice type of its own
            s = sps.get(p["sps_id"])
            if s is None or "pic_size_in_ctbs" not in s:
                return None, first
            r.skip(max(s["pic_size_in_ctbs"] - 1, 0).bit_length())  # slice_segment_address
        r.skip(p["num_extra_slice_header_bits"])
        kind = r.ue()
    except NalError:
        return None, None
    return H265_SLICE_TYPES.get(kind), first


# ---------------------------------------------------------------------------------------------- config records


def avcc(payload: bytes) -> dict:
    """An ``avcC`` AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1): profile, level, length size,
    SPS/PPS (each SPS parsed for the picture size).

    Returns:
        {"profile_idc", "profile", "compatibility", "level_idc", "level", "length_size", "sps": [...],
        "pps": [hex...]}; "error" when the record ends early.
    """
    out: dict = {"sps": [], "pps": []}
    if len(payload) < 7 or payload[0] != 1:
        out["error"] = "avcC: shorter than 7 bytes or configurationVersion is not 1"
        return out
    out["profile_idc"] = payload[1]
    out["profile"] = H264_PROFILES.get(payload[1])
    out["compatibility"] = payload[2]
    out["level_idc"] = payload[3]
    out["level"] = payload[3] / 10
    out["length_size"] = (payload[4] & 3) + 1
    pos = 5
    for key, count_mask in (("sps", 0x1F), ("pps", 0xFF)):
        if pos >= len(payload):
            out["error"] = f"avcC: ends before its {key.upper()} count"
            return out
        count = payload[pos] & count_mask
        pos += 1
        for _ in range(count):
            if pos + 2 > len(payload):
                out["error"] = f"avcC: ends inside its {key.upper()} list"
                return out
            size = int.from_bytes(payload[pos:pos + 2], "big")
            unit = payload[pos + 2:pos + 2 + size]
            pos += 2 + size
            if len(unit) < size:
                out["error"] = f"avcC: a {key.upper()} claims {size} bytes, {len(unit)} present"
                return out
            out[key].append(h264_sps(unit) if key == "sps" else {"bytes": len(unit), "hex": unit[:64].hex()})
    return out


def hvcc(payload: bytes) -> dict:
    """An ``hvcC`` HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1): profile, tier, level,
    length size and the VPS/SPS/PPS arrays (SPS parsed for the picture size)."""
    out: dict = {"vps": [], "sps": [], "pps": [], "sei": []}
    if len(payload) < 23 or payload[0] != 1:
        out["error"] = "hvcC: shorter than 23 bytes or configurationVersion is not 1"
        return out
    out["profile_idc"] = payload[1] & 0x1F
    out["profile"] = H265_PROFILES.get(out["profile_idc"])
    out["tier"] = "High" if payload[1] & 0x20 else "Main"
    out["level_idc"] = payload[12]
    out["level"] = payload[12] / 30
    out["length_size"] = (payload[21] & 3) + 1
    arrays = payload[22]
    pos = 23
    names = {32: "vps", 33: "sps", 34: "pps", 39: "sei", 40: "sei"}
    for _ in range(arrays):
        if pos + 3 > len(payload):
            out["error"] = "hvcC: ends inside its NAL arrays"
            return out
        nal_type = payload[pos] & 0x3F
        count = int.from_bytes(payload[pos + 1:pos + 3], "big")
        pos += 3
        for _ in range(count):
            if pos + 2 > len(payload):
                out["error"] = "hvcC: ends inside a NAL array"
                return out
            size = int.from_bytes(payload[pos:pos + 2], "big")
            unit = payload[pos + 2:pos + 2 + size]
            pos += 2 + size
            if len(unit) < size:
                out["error"] = f"hvcC: a NAL unit claims {size} bytes, {len(unit)} present"
                return out
            key = names.get(nal_type)
            if key == "sps":
                out["sps"].append(h265_sps(unit))
            elif key == "pps":
                out["pps"].append(h265_pps(unit))
            elif key:
                out[key].append({"bytes": len(unit)})
    return out


# ---------------------------------------------------------------------------------------------- packets


class NalReader:
    """Reads the NAL units of one H.264 or H.265 stream packet by packet, keeping its parameter sets.

    Args:
        codec: "h264" or "hevc".
        extradata: the stream's codec private data: an avcC/hvcC record (length-prefixed packets),
            Annex B parameter sets, or empty (Annex B packets).
    """

    def __init__(self, codec: str, extradata: bytes | None):
        self.codec = codec
        self.length_size: int | None = None  # None: Annex B
        self.sps: dict[int, dict] = {}
        self.pps: dict[int, dict] = {}
        extradata = extradata or b""
        if extradata[:1] == b"\x01":
            record = avcc(extradata) if codec == "h264" else hvcc(extradata)
            self.length_size = record.get("length_size", 4)
            for s in record.get("sps", []):
                if "sps_id" in s:
                    self.sps[s["sps_id"]] = s
            for p in record.get("pps", []):
                if "pps_id" in p:
                    self.pps[p["pps_id"]] = p
        elif is_annexb(extradata):
            for unit in split_annexb(extradata):
                self._remember(unit)

    def _remember(self, unit: bytes) -> None:
        if self.codec == "hevc" and len(unit) >= 2:
            t = (unit[0] >> 1) & 0x3F
            if t == 33:
                s = h265_sps(unit)
                if "sps_id" in s:
                    self.sps[s["sps_id"]] = s
            elif t == 34:
                p = h265_pps(unit)
                if "pps_id" in p:
                    self.pps[p["pps_id"]] = p
        elif self.codec == "h264" and unit:
            if unit[0] & 0x1F == 7:
                s = h264_sps(unit)
                if "sps_id" in s:
                    self.sps[s["sps_id"]] = s

    def packet(self, data: bytes) -> dict:
        """The NAL units of one packet and the picture type they make.

        Returns:
            {"nal_units": [names], "slice_types": [I/P/B per slice], "picture_type": the first
            slice's type (what FFmpeg reports as the frame's pict_type), "irap": an IDR/CRA/BLA unit is
            present, "error": why the units could not all be split (absent when they could)}.
        """
        error = None
        if self.length_size is not None:
            units, error = split_length_prefixed(data, self.length_size)
            if error and is_annexb(data):  # start codes where the record promised sizes (some muxers)
                units, error = split_annexb(data), None
        else:
            units = split_annexb(data)
        names: list[str] = []
        slices: list[str | None] = []
        irap = False
        for unit in units:
            if self.codec == "hevc":
                if len(unit) < 2:
                    names.append("truncated")
                    continue
                t = (unit[0] >> 1) & 0x3F
                names.append(H265_NAL_NAMES.get(t, f"type{t}"))
                self._remember(unit)
                if t <= 21 and (t <= 9 or t >= 16):
                    irap = irap or 16 <= t <= 21
                    kind, _first = h265_slice_type(unit, self.pps, self.sps)
                    slices.append(kind)
            else:
                if not unit:
                    continue
                t = unit[0] & 0x1F
                names.append(H264_NAL_NAMES.get(t, f"type{t}"))
                self._remember(unit)
                if t in (1, 5):
                    irap = irap or t == 5
                    slices.append(h264_slice_type(unit))
        out = {"nal_units": names, "slice_types": slices, "picture_type": slices[0] if slices else None,
               "irap": irap}
        if error:
            out["error"] = error
        return out
