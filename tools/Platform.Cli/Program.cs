using Platform.Cli;

// `platform`: the command-line client of the HTTP API (docs/cli.md). Exit codes: ExitCodes.cs.
return await CliApp.Run(args);
