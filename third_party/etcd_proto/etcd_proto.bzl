"""A repository rule that builds the C++ client code of etcd's v3 API.

The .proto files are Debian's (deploy/etcd-protos.sh installs them where the
packages put them, under /usr/share/gocode/src); this links each one at the
path its importers name it by, and generates the code with Debian's protoc
and grpc_cpp_plugin, as //protos does for rbfs' own API.
"""

_SRC = "/usr/share/gocode/src/"

# import path -> installed file.
_PROTOS = {
    "etcd/etcdserver/etcdserverpb/rpc.proto": "go.etcd.io/etcd/etcdserver/etcdserverpb/rpc.proto",
    "etcd/mvcc/mvccpb/kv.proto": "go.etcd.io/etcd/mvcc/mvccpb/kv.proto",
    "etcd/auth/authpb/auth.proto": "go.etcd.io/etcd/auth/authpb/auth.proto",
    "gogoproto/gogo.proto": "github.com/gogo/protobuf/gogoproto/gogo.proto",
    "google/api/annotations.proto": "github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/annotations.proto",
    "google/api/http.proto": "github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/http.proto",
}

# Only rpc.proto defines services.
_GRPC = ["etcd/etcdserver/etcdserverpb/rpc.proto"]

_BUILD = """\
load("@rules_cc//cc:defs.bzl", "cc_library")

package(default_visibility = ["//visibility:public"])

genrule(
    name = "etcd_proto_gen",
    srcs = {srcs},
    outs = {outs},
    cmd = "/usr/bin/protoc --proto_path=external/{name} " +
          "--cpp_out=$(RULEDIR) --grpc_out=$(RULEDIR) " +
          "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(SRCS)",
)

# The KV, Watch and Lease services' stubs and messages (package
# etcdserverpb), included as "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h".
cc_library(
    name = "etcd_cc_proto",
    srcs = {cc},
    hdrs = {hdrs},
    includes = ["."],
    deps = ["@system_libs//:grpc"],
)
"""

def _etcd_proto_impl(ctx):
    outs_h = []
    outs_cc = []
    for path, installed in _PROTOS.items():
        source = ctx.path(_SRC + installed)
        if not source.exists:
            fail("%s is missing. Run deploy/setup.sh (deploy/etcd-protos.sh) first." % source)
        ctx.symlink(source, path)
        stem = path[:-len(".proto")]
        outs_h.append(stem + ".pb.h")
        outs_cc.append(stem + ".pb.cc")
        if path in _GRPC:
            outs_h.append(stem + ".grpc.pb.h")
            outs_cc.append(stem + ".grpc.pb.cc")
    ctx.file("BUILD.bazel", _BUILD.format(
        name = ctx.name,
        srcs = repr(sorted(_PROTOS.keys())),
        outs = repr(outs_h + outs_cc),
        cc = repr(outs_cc),
        hdrs = repr(outs_h),
    ))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

etcd_proto = repository_rule(
    implementation = _etcd_proto_impl,
    local = True,
)
