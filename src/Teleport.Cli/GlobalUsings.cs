// The namespaces most commands, settings and tables use; one place instead of a using in each file.
global using System.ComponentModel;
global using Spectre.Console;
global using Spectre.Console.Cli;
global using Teleport.Cli.Infrastructure;
