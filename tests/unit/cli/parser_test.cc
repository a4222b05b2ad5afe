// Command-line parsing: every command, where global flags may go, flag syntax, typed values,
// the FieldMask of `upstream update`, and the usage errors (exit 2) for everything malformed.
#include "cli/commands/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/client/error_kind.h"
#include "cli/commands/run.h"
#include "cli/commands/upstream.h"
#include "tests/unit/cli/cli_test_util.h"

namespace fwd::cli::commands {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ParsedCommandLine> parse(const std::vector<std::string>& args) {
  static const std::vector<CommandSpec> commands = allCommands();
  return parseCommandLine(args, commands);
}

Invocation parseOk(const std::vector<std::string>& args) {
  auto parsed = parse(args);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->invocation : Invocation();
}

std::vector<std::string> maskOf(const std::vector<std::string>& args) {
  auto request = buildUpdateUpstreamRequest(parseOk(args));
  EXPECT_TRUE(request.ok()) << request.status();
  if (!request.ok()) {
    return {};
  }
  return {request->update_mask().paths().begin(), request->update_mask().paths().end()};
}

TEST(CliParserTest, EveryCommandParses) {
  // Each noun/verb the CLI documents is recognised with its NAME argument.
  struct Case {
    std::vector<std::string> args;
    std::string noun, verb, name;
  };
  const Case cases[] = {
      {{"upstream", "add", "local", "--base-url", "http://x"}, "upstream", "add", "local"},
      {{"upstream", "list"}, "upstream", "list", ""},
      {{"upstream", "get", "local"}, "upstream", "get", "local"},
      {{"upstream", "update", "local", "--weight", "2"}, "upstream", "update", "local"},
      {{"upstream", "remove", "local"}, "upstream", "remove", "local"},
      {{"key", "create", "ci"}, "key", "create", "ci"},
      {{"key", "list"}, "key", "list", ""},
      {{"key", "revoke", "ci"}, "key", "revoke", "ci"},
      {{"status"}, "status", "", ""},
      {{"version"}, "version", "", ""},
  };
  for (const Case& c : cases) {
    auto parsed = parse(c.args);
    ASSERT_TRUE(parsed.ok()) << c.args[0] << " " << parsed.status();
    EXPECT_EQ(parsed->invocation.noun, c.noun);
    EXPECT_EQ(parsed->invocation.verb, c.verb);
    EXPECT_EQ(parsed->spec->noun, c.noun);
    EXPECT_EQ(parsed->spec->verb, c.verb);
    if (c.name.empty()) {
      EXPECT_TRUE(parsed->invocation.args.empty());
    } else {
      EXPECT_THAT(parsed->invocation.args, ElementsAre(c.name));
    }
  }
}

TEST(CliParserTest, GlobalFlagsGoBeforeOrAfterTheCommand) {
  // --server/--token/-o/--timeout are accepted anywhere and in both --f v and --f=v forms.
  Invocation before = parseOk(
      {"--server", "10.0.0.1:9000", "--token=abc", "-o", "json", "--timeout", "3s", "status"});
  EXPECT_EQ(before.global.server, "10.0.0.1:9000");
  EXPECT_EQ(before.global.token, "abc");
  EXPECT_EQ(before.global.output, OutputFormat::kJson);
  EXPECT_EQ(before.global.timeout, std::chrono::milliseconds(3000));

  Invocation after =
      parseOk({"upstream", "list", "--output=json", "--server=[::1]:7070", "--token", "t"});
  EXPECT_EQ(after.global.server, "[::1]:7070");
  EXPECT_EQ(after.global.output, OutputFormat::kJson);
  EXPECT_EQ(after.global.token, "t");

  Invocation defaults = parseOk({"status"});
  EXPECT_EQ(defaults.global.server, "127.0.0.1:7070");
  EXPECT_FALSE(defaults.global.token.has_value());
  EXPECT_EQ(defaults.global.output, OutputFormat::kTable);
  EXPECT_EQ(defaults.global.timeout, std::chrono::milliseconds(10'000));
}

TEST(CliParserTest, TimeoutAfterUpstreamAddIsTheUpstreamsOwn) {
  // After "upstream add|update" --timeout belongs to the upstream; before the noun it is the
  // call deadline, so both can be given in one command line.
  Invocation inv = parseOk(
      {"--timeout", "5s", "upstream", "add", "a", "--base-url", "http://x", "--timeout", "30s"});
  EXPECT_EQ(inv.global.timeout, std::chrono::milliseconds(5000));
  auto request = buildCreateUpstreamRequest(inv);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->upstream().timeout().seconds(), 30);
}

TEST(CliParserTest, AddBuildsTheWholeUpstream) {
  // Every flag of `upstream add` lands in its CreateUpstreamRequest field; NAME may come last.
  Invocation inv =
      parseOk({"upstream", "add", "--base-url=https://api.openai.com/v1", "--api-key-env",
               "OPENAI_KEY", "--model", "gpt-4*", "--model", "o1", "--priority", "-2", "--weight",
               "3", "--timeout", "1m30s", "--insecure-skip-verify", "openai"});
  auto request = buildCreateUpstreamRequest(inv);
  ASSERT_TRUE(request.ok()) << request.status();
  const fwd::v1::Upstream& u = request->upstream();
  EXPECT_EQ(u.name(), "openai");
  EXPECT_EQ(u.base_url(), "https://api.openai.com/v1");
  EXPECT_EQ(u.api_key_env(), "OPENAI_KEY");
  EXPECT_THAT(u.models(), ElementsAre("gpt-4*", "o1"));
  EXPECT_EQ(u.priority(), -2);
  EXPECT_EQ(u.weight(), 3u);
  EXPECT_EQ(u.timeout().seconds(), 90);
  EXPECT_EQ(u.timeout().nanos(), 0);
  EXPECT_TRUE(u.insecure_skip_verify());

  auto minimal = buildCreateUpstreamRequest(
      parseOk({"upstream", "add", "m", "--base-url", "http://h", "--timeout", "500ms"}));
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->upstream().credential_case(), fwd::v1::Upstream::CREDENTIAL_NOT_SET);
  EXPECT_EQ(minimal->upstream().timeout().nanos(), 500'000'000);
  EXPECT_TRUE(minimal->upstream().models().empty());
}

TEST(CliParserTest, UpdateMaskNamesExactlyTheGivenFlags) {
  // The FieldMask holds the paths of the flags given, in admin.proto order, nothing else.
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--priority", "3"}), ElementsAre("priority"));
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--timeout", "2m", "--model", "x", "--model", "y",
                      "--base-url", "http://h"}),
              ElementsAre("base_url", "models", "timeout"));
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--api-key", "sk-1"}), ElementsAre("api_key"));
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--api-key-env", "K"}),
              ElementsAre("api_key_env"));
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--weight", "0", "--insecure-skip-verify=false"}),
              ElementsAre("weight", "insecure_skip_verify"));
  EXPECT_THAT(maskOf({"upstream", "update", "a", "--clear-models"}), ElementsAre("models"));

  auto request =
      buildUpdateUpstreamRequest(parseOk({"upstream", "update", "a", "--insecure-skip-verify=false",
                                          "--model", "m1", "--model", "m2"}));
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->upstream().name(), "a");
  EXPECT_FALSE(request->upstream().insecure_skip_verify());
  EXPECT_THAT(request->upstream().models(), ElementsAre("m1", "m2"));
  // Fields not named keep their zero values: the server must not see them as changes.
  EXPECT_EQ(request->upstream().base_url(), "");
  EXPECT_FALSE(request->upstream().has_timeout());
}

TEST(CliParserTest, MalformedCommandLinesAreUsageErrors) {
  // Each malformed line fails before any connection, exits 2 and names what is wrong.
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"frob"}, "unknown command \"frob\""},
      {{"upstream"},
       "missing verb for \"upstream\" (expected one of add, list, get, update, remove)"},
      {{"upstream", "explode"}, "unknown verb \"explode\" for \"upstream\""},
      {{"upstream", "get"}, "missing NAME: usage: fwdctl upstream get NAME"},
      {{"upstream", "get", "a", "b"}, "unexpected argument \"b\" for \"upstream get\""},
      {{"upstream", "add", "a"}, "upstream add needs --base-url URL"},
      {{"upstream", "add", "a", "--base-url"}, "flag --base-url needs a value"},
      {{"upstream", "add", "a", "--base-url", "u", "--bogus", "1"},
       "unknown flag --bogus for \"upstream add\""},
      {{"upstream", "list", "--model", "x"}, "unknown flag --model for \"upstream list\""},
      {{"--bogus", "status"}, "unknown flag --bogus"},
      {{"-x", "status"}, "unknown flag -x"},
      {{"upstream", "add", "a", "--base-url", "u", "--priority", "abc"},
       "invalid value \"abc\" for --priority: expected an integer"},
      {{"upstream", "add", "a", "--base-url", "u", "--priority", "99999999999"},
       "invalid value \"99999999999\" for --priority"},
      {{"upstream", "add", "a", "--base-url", "u", "--weight", "-1"},
       "invalid value \"-1\" for --weight: expected a non-negative integer"},
      {{"upstream", "add", "a", "--base-url", "u", "--timeout", "30"},
       "--timeout: invalid duration \"30\": missing unit"},
      {{"upstream", "add", "a", "--base-url", "u", "--timeout", "0s"},
       "--timeout must be positive"},
      {{"upstream", "add", "a", "--base-url", "u", "--api-key", "k", "--api-key-env", "V"},
       "--api-key and --api-key-env cannot be used together"},
      {{"upstream", "add", "a", "--base-url", "u", "--base-url", "v"},
       "flag --base-url given more than once"},
      {{"upstream", "add", "a", "--base-url", "u", "--insecure-skip-verify=yes"},
       "invalid value \"yes\" for --insecure-skip-verify: expected true or false"},
      {{"upstream", "add", "a", "--base-url", "u", "--clear-models"},
       "unknown flag --clear-models for \"upstream add\""},
      {{"upstream", "update", "a"}, "nothing to update"},
      {{"upstream", "update", "a", "--clear-models", "--model", "x"},
       "--clear-models and --model cannot be used together"},
      {{"key", "create"}, "missing NAME"},
      {{"key", "create", "k", "--priority", "1"}, "unknown flag --priority for \"key create\""},
      {{"-o", "yaml", "status"}, "invalid value \"yaml\" for -o: expected table or json"},
      {{"status", "--output", "xml"}, "invalid value \"xml\" for --output"},
      {{"--timeout", "soon", "status"}, "--timeout: invalid duration \"soon\""},
      {{"--timeout", "0ms", "status"}, "--timeout must be positive"},
      {{"--server", "nocolon", "status"}, "invalid value \"nocolon\" for --server"},
      {{"--token", "a", "--token", "b", "status"}, "flag --token given more than once"},
      {{"status", "extra"}, "unexpected argument \"extra\" for \"status\""},
  };
  for (const Case& c : cases) {
    testing::CliResult result = testing::runCli(c.args);
    EXPECT_EQ(result.exit_code, kExitUsage) << c.message;
    EXPECT_THAT(result.err, HasSubstr("fwdctl: " + c.message)) << result.err;
    EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "one line: " << result.err;
    EXPECT_EQ(result.out, "") << c.message;
  }
}

TEST(CliParserTest, HelpAnywherePrintsUsageAndSucceeds) {
  // --help/-h wins over everything else on the line, even errors, and shows the noun's flags.
  testing::CliResult general = testing::runCli({"--help"});
  EXPECT_EQ(general.exit_code, kExitOk);
  EXPECT_THAT(general.out, HasSubstr("fwdctl upstream add NAME --base-url URL"));
  EXPECT_THAT(general.out, HasSubstr("fwdctl key create NAME"));
  EXPECT_THAT(general.out, HasSubstr("Exit codes"));

  testing::CliResult noun = testing::runCli({"upstream", "add", "--bogus", "-h"});
  EXPECT_EQ(noun.exit_code, kExitOk);
  EXPECT_THAT(noun.out, HasSubstr("--insecure-skip-verify"));
  EXPECT_THAT(noun.out, ::testing::Not(HasSubstr("fwdctl key create")));
  EXPECT_EQ(noun.err, "");

  testing::CliResult none = testing::runCli({});
  EXPECT_EQ(none.exit_code, kExitUsage);
  EXPECT_THAT(none.err, HasSubstr("Usage:"));
}

TEST(CliParserTest, VersionNeedsNoServerOrToken) {
  // `fwdctl version` works with no token anywhere and never connects.
  testing::CliResult table = testing::runCli({"version"});
  EXPECT_EQ(table.exit_code, kExitOk);
  EXPECT_THAT(table.out, ::testing::MatchesRegex("fwdctl [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  testing::CliResult json = testing::runCli({"version", "-o", "json"});
  EXPECT_EQ(json.exit_code, kExitOk);
  EXPECT_EQ(json.out,
            "{\n  \"version\": \"" + table.out.substr(7, table.out.size() - 8) + "\"\n}\n");
}

TEST(CliParserTest, DoubleDashEndsFlags) {
  // After "--" a NAME that starts with a dash is still a NAME (the server then judges it).
  Invocation inv = parseOk({"upstream", "get", "--", "-odd"});
  EXPECT_THAT(inv.args, ElementsAre("-odd"));
}

}  // namespace
}  // namespace fwd::cli::commands
