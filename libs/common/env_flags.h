#ifndef UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_
#define UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_

#include <string>
#include <vector>

namespace upshift {

// Parses the command line like absl::ParseCommandLine, after first setting every flag `name` whose
// environment variable UPSHIFT_<NAME> (upper case) is set: the command line wins over the
// environment. Exits with a message on a bad value. Returns the positional arguments (argv[0] first).
std::vector<std::string> ParseFlagsWithEnv(int argc, char** argv);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_ENV_FLAGS_H_
