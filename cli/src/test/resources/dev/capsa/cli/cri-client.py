#!/usr/bin/python3
"""A small CRI client for ContainerdCriIT: what the kubelet asks containerd's CRI plugin, one call a line.

No crictl is packaged for Debian 12, so this speaks CRI (runtime.v1) itself over gRPC with
python3-grpcio, encoding and decoding the few protobuf messages it needs by hand (field numbers from
k8s.io/cri-api api.proto). Usage: cri-client.py SOCKET CALL JSON-ARGS; prints a JSON answer.
"""
import json
import sys

import grpc


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """A field: int -> varint, str/bytes -> length-delimited, list -> repeated."""
    if value is None:
        return b""
    if isinstance(value, list):
        return b"".join(field(num, v) for v in value)
    if isinstance(value, bool) or isinstance(value, int):
        return varint(num << 3) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def msg(*fields):
    return b"".join(field(n, v) for n, v in fields)


def string_map(num, entries):
    return b"".join(field(num, msg((1, k), (2, v))) for k, v in entries.items())


def decode(data):
    """{field number: [values]}; length-delimited values stay bytes."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            size, i = read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(num, []).append(value)
    return out


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def first(d, num, default=None):
    return d.get(num, [default])[0]


def signed32(n):
    n &= (1 << 32) - 1
    return n - (1 << 32) if n >> 31 else n


def sandbox_config(a):
    # NamespaceOption.network = NODE (2): the host's network, so no CNI is needed
    security = msg((1, msg((1, 2))))
    linux = msg((1, a["cgroupParent"]), (2, security))
    return msg((1, msg((1, a["name"]), (2, a["uid"]), (3, "default"), (4, 0))),
               (3, a["logDir"])) + string_map(7, a.get("annotations", {})) + field(8, linux)


def main():
    socket, call, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    channel = grpc.insecure_channel("unix://" + socket)
    service = "/runtime.v1.RuntimeService/"

    def rpc(name, request, timeout=60):
        return decode(channel.unary_unary(service + name)(request, timeout=timeout))

    try:
        if call == "version":
            r = rpc("Version", msg((1, "v1")))
            answer = {"runtimeName": first(r, 2, b"").decode(), "runtimeVersion": first(r, 3, b"").decode()}
        elif call == "runPodSandbox":
            r = rpc("RunPodSandbox", msg((1, sandbox_config(args)), (2, args["handler"])))
            answer = {"id": first(r, 1).decode()}
        elif call == "createContainer":
            config = msg((1, msg((1, args["container"]))), (2, msg((1, args["image"]))), (3, args["command"]),
                         (11, args["container"] + ".log"))
            r = rpc("CreateContainer", msg((1, args["sandbox"]), (2, config), (3, sandbox_config(args))))
            answer = {"id": first(r, 1).decode()}
        elif call == "startContainer":
            rpc("StartContainer", msg((1, args["id"])))
            answer = {}
        elif call == "containerStatus":
            status = decode(first(rpc("ContainerStatus", msg((1, args["id"]))), 1))
            states = ["CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED", "CONTAINER_UNKNOWN"]
            answer = {"state": states[first(status, 3, 0)], "exitCode": signed32(first(status, 7, 0)),
                      "reason": first(status, 10, b"").decode(), "message": first(status, 11, b"").decode()}
        elif call == "execSync":
            r = rpc("ExecSync", msg((1, args["id"]), (2, args["cmd"]), (3, 30)))
            answer = {"stdout": first(r, 1, b"").decode(), "stderr": first(r, 2, b"").decode(),
                      "exitCode": signed32(first(r, 3, 0))}
        elif call == "containerStats":
            stats = decode(first(rpc("ContainerStats", msg((1, args["id"]))), 1))
            cpu = decode(first(stats, 2, b""))
            memory = decode(first(stats, 3, b""))
            answer = {"cpuNanos": first(decode(first(cpu, 2, b"")), 1, 0),
                      "workingSetBytes": first(decode(first(memory, 2, b"")), 1, 0)}
        elif call == "stopContainer":
            rpc("StopContainer", msg((1, args["id"]), (2, args.get("timeout", 0))))
            answer = {}
        elif call == "removeContainer":
            rpc("RemoveContainer", msg((1, args["id"])))
            answer = {}
        elif call == "stopPodSandbox":
            rpc("StopPodSandbox", msg((1, args["id"])))
            answer = {}
        elif call == "removePodSandbox":
            rpc("RemovePodSandbox", msg((1, args["id"])))
            answer = {}
        else:
            raise SystemExit("unknown call " + call)
    except grpc.RpcError as e:
        print(json.dumps({"error": e.details(), "code": str(e.code())}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
