#include "server/env_flags.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace rbfs {

std::string FlagEnvironmentVariable(absl::string_view prefix,
                                    absl::string_view flag_name) {
  std::string variable(prefix);
  for (char c : flag_name) {
    variable += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  }
  return variable;
}

absl::Status SetFlagsFromEnvironment(
    absl::string_view prefix,
    const std::function<bool(absl::string_view)>& defined_in) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && defined_in(flag->Filename())) {
      flags.push_back(flag);
    }
  }
  // Sorted, so that errors come in the same order every time.
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  std::vector<std::string> errors;
  for (absl::CommandLineFlag* flag : flags) {
    std::string variable = FlagEnvironmentVariable(prefix, flag->Name());
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      errors.push_back(absl::StrCat(
          variable, "=", value, " is not a valid --",
          absl::StrReplaceAll(flag->Name(), {{"_", "-"}}), ": ", error));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  return absl::OkStatus();
}

std::string EnvironmentFlagsHelp(absl::string_view prefix) {
  return absl::StrCat(
      "Every flag can also come from an environment variable, ", prefix,
      "<FLAG> in\nupper case with underscores: ", prefix,
      "TOKEN_FILE for "
      "--token-file, ",
      prefix,
      "VOLUME_SIZE\nfor --volume-size. The command "
      "line overrides the environment; an empty\nvariable counts as unset.");
}

}  // namespace rbfs
