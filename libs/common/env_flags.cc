#include "libs/common/env_flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace upshift {

std::vector<std::string> ParseFlagsWithEnv(int argc, char** argv) {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string var = absl::StrCat("UPSHIFT_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::fprintf(stderr, "%s: bad value in %s: %s\n", argv[0], var.c_str(), error.c_str());
      std::exit(2);
    }
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  return std::vector<std::string>(positional.begin(), positional.end());
}

absl::Status CheckRequiredFlags() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string full_help = flag->Help();
    absl::string_view help = full_help;
    if (!absl::ConsumePrefix(&help, "Required")) continue;
    if (absl::ConsumePrefix(&help, " unless --")) {
      const std::string unless(help.substr(0, help.find(':')));
      const absl::CommandLineFlag* choice = absl::FindCommandLineFlag(unless);
      // The other flag is given instead: a bool set true, or any other kind set at all.
      if (choice != nullptr && !choice->CurrentValue().empty() && choice->CurrentValue() != "false") continue;
    }
    if (flag->CurrentValue().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is required (", full_help, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace upshift
