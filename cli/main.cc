// fwdctl: the operator CLI of fwd. Wiring only: the process's arguments, environment and
// streams go to fwd::cli::commands::run, whose result is the exit code.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/client/token.h"
#include "cli/commands/run.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  fwd::cli::commands::Environment env;
  if (const char* token = std::getenv(fwd::cli::client::kTokenEnvVar)) {
    env.token_env = token;
  }
  env.out = &std::cout;
  env.err = &std::cerr;
  return fwd::cli::commands::run(args, env);
}
