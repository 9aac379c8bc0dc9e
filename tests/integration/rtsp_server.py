"""A small RTSP server for tests: serves one H.264 file in a loop over RTP/TCP.

Pure Python (sockets + threads), PyAV only to read the file. It speaks just enough
RFC 2326 (OPTIONS, DESCRIBE, SETUP with ``RTP/AVP/TCP;interleaved``, PLAY,
GET_PARAMETER, TEARDOWN) and RFC 6184 (single NAL units and FU-A fragments, 90 kHz
timestamps, SPS/PPS in the SDP's sprop-parameter-sets) for FFmpeg's RTSP client.
Each PLAY streams the file from its start at real-time pace (packets are sent at
their decode time, RTP timestamps carry the presentation time). Optional Basic or
Digest authentication lets tests check that passwords stay out of logs.

`stop()` closes every connection at once and frees the port; `start()` again binds
the same port, so tests can simulate a camera that goes away and comes back;
`stall()` keeps connections open but stops sending media (a dead camera behind a
live switch); `cut()` sends half of the next media packet and drops the connection; and
between `stop()` and `start()` a test may change `password` (wrong credentials after a
restart) or `clip` (a camera whose resolution changes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import av.bitstream

_RTP_CLOCK = 90_000
_PAYLOAD_TYPE = 96
_FU_A = 28


@dataclass(frozen=True, slots=True)
class AccessUnit:
    dts: float  # seconds from the first packet's decode time: when to send
    pts: float  # seconds on the same clock: the RTP timestamp
    nals: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class H264Clip:
    units: tuple[AccessUnit, ...]
    sps: bytes
    pps: bytes
    duration: float  # one loop, seconds

    @classmethod
    def load(cls, path: Path) -> H264Clip:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.codec_context.name != "h264":
                raise ValueError(f"{path}: not H.264")
            extradata = bytes(stream.codec_context.extradata or b"")
            is_avcc = extradata[:1] == b"\x01"
            bsf = (
                av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream) if is_avcc else None
            )
            base = stream.time_base
            assert base is not None
            raw: list[tuple[int, int, bytes]] = []
            for packet in container.demux(stream):
                if packet.size == 0 or packet.dts is None:
                    continue
                for out in bsf.filter(packet) if bsf else [packet]:
                    dts = out.dts if out.dts is not None else packet.dts
                    pts = out.pts if out.pts is not None else dts
                    raw.append((dts, pts, bytes(out)))
        sps, pps = _parameter_sets(extradata, is_avcc)
        first = raw[0][0]
        units = tuple(
            AccessUnit(
                float((d - first) * base), float((p - first) * base), tuple(split_annexb(data))
            )
            for d, p, data in raw
        )
        step = units[1].dts - units[0].dts if len(units) > 1 else 0.1
        return cls(units, sps, pps, units[-1].dts + step)


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream (start codes removed)."""
    starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data)]
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00") if i + 1 < len(starts) else data[start:end]
        if nal:
            nals.append(nal)
    return nals


def _parameter_sets(extradata: bytes, is_avcc: bool) -> tuple[bytes, bytes]:
    if not is_avcc:
        nals = split_annexb(extradata)
    else:  # avcC box: counts and 16-bit lengths of SPS, then of PPS
        nals, pos = [], 5
        for count_mask in (0x1F, 0xFF):
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                (size,) = struct.unpack_from(">H", extradata, pos)
                nals.append(extradata[pos + 2 : pos + 2 + size])
                pos += 2 + size
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    return sps, pps


def rtp_payloads(nal: bytes, mtu: int) -> list[bytes]:
    """One NAL unit as RTP payloads: itself if it fits, else FU-A fragments."""
    if len(nal) <= mtu:
        return [nal]
    indicator = (nal[0] & 0xE0) | _FU_A
    nal_type = nal[0] & 0x1F
    body = nal[1:]
    chunks = [body[i : i + mtu - 2] for i in range(0, len(body), mtu - 2)]
    out = []
    for i, chunk in enumerate(chunks):
        header = nal_type | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(bytes([indicator, header]) + chunk)
    return out


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = threading.Event()
        self.send_lock = threading.Lock()
        self.channel = 0
        self.session: str | None = None
        self.sender: threading.Thread | None = None

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(data)

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv()
        self.sock.close()


class RtspServer:
    """Serve `video` at ``rtsp://127.0.0.1:PORT/<path>``; see the module docstring."""

    def __init__(
        self,
        video: Path,
        *,
        user: str | None = None,
        password: str | None = None,
        auth: Literal["digest", "basic"] = "digest",
        path: str = "stream",
        port: int = 0,
        mtu: int = 1400,
    ) -> None:
        self.clip = H264Clip.load(video)
        self.user, self.password, self.auth = user, password, auth
        self.path = path.strip("/")
        self.port = port
        self.mtu = mtu
        self.plays = 0  # PLAY requests served, across restarts
        self.refused = 0  # requests answered 401, across restarts
        self._cut = threading.Event()
        self._realm = "onsight-test"
        self._nonce = secrets.token_hex(16)
        self._listener: socket.socket | None = None
        self._running = threading.Event()
        self._stalled = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []

    def url(self, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user is not None and password is not None else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/{self.path}"

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stalled.clear()
        self._running.set()
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        """Close the listener and every client connection now; join all threads."""
        self._running.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
            threads, self._threads = self._threads, []
        for conn in connections:
            conn.close()
        for thread in threads:
            thread.join(timeout=5)

    def cut(self) -> None:
        """Send half of the next media packet, then close that connection."""
        self._cut.set()

    def stall(self, stalled: bool = True) -> None:
        """Keep connections open but send no media while `stalled`."""
        if stalled:
            self._stalled.set()
        else:
            self._stalled.clear()

    # -- internals ---------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        while self._running.is_set() and listener is not None:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock)
            with self._lock:
                if not self._running.is_set():
                    conn.close()
                    return
                self._connections.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: _Connection) -> None:
        buffer = b""
        try:
            while not conn.closed.is_set():
                chunk = conn.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                buffer = self._consume(conn, buffer)
        except OSError:
            return
        finally:
            conn.close()

    def _consume(self, conn: _Connection, buffer: bytes) -> bytes:
        """Handle every complete request (and skip interleaved RTCP) in `buffer`."""
        while buffer:
            if buffer[:1] == b"$":
                if len(buffer) < 4:
                    break
                size = struct.unpack(">H", buffer[2:4])[0]
                if len(buffer) < 4 + size:
                    break
                buffer = buffer[4 + size :]
                continue
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].decode("utf-8", "replace")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            method, uri, _ = ([*lines[0].split(" "), "", ""])[:3]
            self._handle(conn, method, uri, headers)
        return buffer

    def _handle(self, conn: _Connection, method: str, uri: str, headers: dict[str, str]) -> None:
        cseq = headers.get("cseq", "0")
        if method == "OPTIONS":
            public = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"
            return self._reply(conn, cseq, 200, {"Public": public})
        if not self._authorised(method, headers.get("authorization", "")):
            challenge = (
                f'Digest realm="{self._realm}", nonce="{self._nonce}"'
                if self.auth == "digest"
                else f'Basic realm="{self._realm}"'
            )
            self.refused += 1
            return self._reply(conn, cseq, 401, {"WWW-Authenticate": challenge})
        if method == "DESCRIBE":
            if not uri.rstrip("/").endswith("/" + self.path):
                return self._reply(conn, cseq, 404)
            sdp = self._sdp().encode()
            extra = {"Content-Type": "application/sdp", "Content-Base": uri.rstrip("/") + "/"}
            return self._reply(conn, cseq, 200, extra, sdp)
        if method == "SETUP":
            transport = headers.get("transport", "")
            match = re.search(r"interleaved=(\d+)-(\d+)", transport)
            if "TCP" not in transport or match is None:
                return self._reply(conn, cseq, 461)
            conn.channel = int(match.group(1))
            conn.session = secrets.token_hex(8)
            reply = f"RTP/AVP/TCP;unicast;interleaved={match.group(1)}-{match.group(2)}"
            return self._reply(
                conn, cseq, 200, {"Transport": reply, "Session": f"{conn.session};timeout=60"}
            )
        if method == "PLAY":
            if conn.session is None:
                return self._reply(conn, cseq, 455)
            seq, ts_base = secrets.randbelow(1 << 16), secrets.randbelow(1 << 32)
            info = f"url={uri.rstrip('/')}/track0;seq={seq};rtptime={ts_base}"
            self._reply(
                conn, cseq, 200, {"Session": conn.session, "Range": "npt=0.000-", "RTP-Info": info}
            )
            self.plays += 1
            if conn.sender is None:
                conn.sender = threading.Thread(
                    target=self._stream, args=(conn, seq, ts_base), daemon=True
                )
                with self._lock:
                    self._threads.append(conn.sender)
                conn.sender.start()
            return None
        if method == "TEARDOWN":
            self._reply(conn, cseq, 200, {"Session": conn.session or ""})
            conn.close()
            return None
        if method in ("GET_PARAMETER", "SET_PARAMETER"):
            return self._reply(conn, cseq, 200, {"Session": conn.session or ""})
        return self._reply(conn, cseq, 405)

    def _authorised(self, method: str, header: str) -> bool:
        if self.user is None or self.password is None:
            return True
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        ha1 = _md5(f"{self.user}:{self._realm}:{self.password}")
        ha2 = _md5(f"{method}:{fields.get('uri', '')}")
        expected = _md5(f"{ha1}:{self._nonce}:{ha2}")
        return fields.get("username") == self.user and fields.get("response") == expected

    def _sdp(self) -> str:
        sps, pps = self.clip.sps, self.clip.pps
        sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
        return "\r\n".join(
            [
                "v=0",
                "o=- 0 0 IN IP4 127.0.0.1",
                "s=onsight test stream",
                "c=IN IP4 0.0.0.0",
                "t=0 0",
                "a=control:*",
                "a=range:npt=0-",
                f"m=video 0 RTP/AVP {_PAYLOAD_TYPE}",
                f"a=rtpmap:{_PAYLOAD_TYPE} H264/{_RTP_CLOCK}",
                f"a=fmtp:{_PAYLOAD_TYPE} packetization-mode=1;profile-level-id={sps[1:4].hex()};"
                f"sprop-parameter-sets={sprop}",
                "a=control:track0",
                "",
            ]
        )

    def _reply(
        self,
        conn: _Connection,
        cseq: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        reasons = {
            200: "OK",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
            455: "Method Not Valid in This State",
            461: "Unsupported Transport",
        }
        lines = [f"RTSP/1.0 {status} {reasons[status]}", f"CSeq: {cseq}", "Server: onsight-test"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _stream(self, conn: _Connection, seq: int, ts_base: int) -> None:
        ssrc = secrets.randbelow(1 << 32)
        start = time.monotonic()
        offset = 0.0
        try:
            while not conn.closed.is_set():
                for unit in self.clip.units:
                    delay = start + offset + unit.dts - time.monotonic()
                    if delay > 0 and conn.closed.wait(delay):
                        return
                    if self._stalled.is_set():
                        continue
                    timestamp = (ts_base + round((unit.pts + offset) * _RTP_CLOCK)) & 0xFFFFFFFF
                    payloads = [p for nal in unit.nals for p in rtp_payloads(nal, self.mtu)]
                    for i, payload in enumerate(payloads):
                        marker = 0x80 if i == len(payloads) - 1 else 0
                        header = struct.pack(
                            ">BBHII", 0x80, marker | _PAYLOAD_TYPE, seq, timestamp, ssrc
                        )
                        seq = (seq + 1) & 0xFFFF
                        packet = header + payload
                        framed = struct.pack(">BBH", 0x24, conn.channel, len(packet)) + packet
                        if self._cut.is_set():
                            self._cut.clear()
                            conn.send(framed[: len(framed) // 2])
                            conn.close()
                            return
                        conn.send(framed)
                offset += self.clip.duration
        except OSError:
            conn.close()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()
