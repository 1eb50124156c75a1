// Flag values from the environment, for containers and service managers:
// RBFS_TOKEN_FILE=/run/secrets/token sets --token-file like
// `--token-file=/run/secrets/token` does.
//
// The variable of a flag is PREFIX + its name in upper case with '_' between
// words (token_file -> RBFS_TOKEN_FILE). Set but empty variables count as
// unset; variables that name no flag are ignored (Kubernetes, for one, adds
// variables named after Services). Values are parsed by the flag itself,
// as on the command line.
//
// Apply the environment before absl::ParseCommandLine: the environment then
// replaces the defaults and the command line, parsed afterwards, overrides
// both, with Abseil's public flag API alone (whether a flag was given on the
// command line is only known to Abseil's internals).
#ifndef RBFS_SERVER_ENV_FLAGS_H_
#define RBFS_SERVER_ENV_FLAGS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// The environment variable for flag `flag_name`, e.g. RBFS_VOLUME_SIZE for
// "volume_size" or "volume-size" with prefix "RBFS_".
std::string FlagEnvironmentVariable(absl::string_view prefix,
                                    absl::string_view flag_name);

// Sets every flag defined in a file that `defined_in` accepts (the same test
// as absl::FlagsUsageConfig::contains_help_flags) from its variable, when
// that is set. Fails with INVALID_ARGUMENT naming each variable whose value
// its flag rejects; flags with valid values are set regardless.
absl::Status SetFlagsFromEnvironment(
    absl::string_view prefix,
    const std::function<bool(absl::string_view)>& defined_in);

// The paragraph --help shows about this, for the program usage message.
std::string EnvironmentFlagsHelp(absl::string_view prefix);

}  // namespace rbfs

#endif  // RBFS_SERVER_ENV_FLAGS_H_
