#ifndef UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_
#define UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace upshift {

// Parses the command line like absl::ParseCommandLine, after first setting every flag `name` whose
// environment variable UPSHIFT_<NAME> (upper case) is set: the command line wins over the
// environment. Exits with a message on a bad value. Returns the positional arguments (argv[0] first).
std::vector<std::string> ParseFlagsWithEnv(int argc, char** argv);

// The flags a process cannot run without say so in their help, which is also what --helpfull shows
// and what deploy/k8s's consistency test reads: "Required: ..." or, for a secure default that an
// explicit choice turns off, "Required unless --<bool flag>: ...". INVALID_ARGUMENT naming the
// first such flag left empty.
absl::Status CheckRequiredFlags();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_
