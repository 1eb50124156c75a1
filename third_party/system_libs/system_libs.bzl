"""A repository rule that wraps Debian's system libraries as cc_library targets.

Each library's compile and link flags come from running pkg-config once, when
the repository is fetched, so the build follows whatever Debian installed.
"""

# target name -> pkg-config modules it needs (order matters for static-ish links).
_LIBS = {
    "grpc": ["grpc++", "grpc", "protobuf"],
    "protobuf": ["protobuf"],
    "fuse3": ["fuse3"],
    # The metrics endpoints' HTTP server (common/metrics).
    "httplib": ["cpp-httplib"],
    "rocksdb": ["rocksdb"],
    "absl": [
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_status",
        "absl_statusor",
        "absl_strings",
        "absl_str_format",
        "absl_synchronization",
        "absl_time",
        "absl_random_random",
        "absl_hash",
        "absl_raw_hash_set",
        "absl_cleanup",
    ],
    "gtest": ["gtest", "gmock"],
    "gtest_main": ["gtest_main", "gmock"],
    "benchmark": ["benchmark"],
    "benchmark_main": ["benchmark"],
    "aio": [],
    # Ceph's client libraries (issue 17); Debian ships no .pc files for them.
    "rbd": [],
    "uring": ["liburing"],
    "crypto": ["libcrypto"],
}

_EXTRA_LINKOPTS = {
    "aio": ["-laio"],
    "rbd": [
        "-lrbd",
        "-lrados",
    ],
    "benchmark_main": ["-lbenchmark_main"],
}

def _pkg_config(ctx, args):
    result = ctx.execute(["pkg-config"] + args)
    if result.return_code != 0:
        fail("pkg-config %s failed: %s\nRun deploy/setup.sh first." % (" ".join(args), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in _LIBS.items():
        defines = []
        linkopts = []
        if modules:
            # Headers live under /usr/include; code includes e.g. <fuse3/...>,
            # so only the -D flags of --cflags matter to dependents.
            cflags = _pkg_config(ctx, ["--cflags"] + modules)
            defines = [f[2:] for f in cflags if f.startswith("-D")]
            linkopts = _pkg_config(ctx, ["--libs"] + modules)
        linkopts = linkopts + _EXTRA_LINKOPTS.get(name, [])
        lines.append("cc_library(")
        lines.append('    name = "%s",' % name)
        lines.append("    defines = %r," % defines)
        lines.append("    linkopts = %r," % linkopts)
        lines.append(")")
        lines.append("")
    ctx.file("BUILD.bazel", "\n".join(lines))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
