// Where a command-line tool prints: the console, or a test's capture.

export interface Printer {
  log(line: string): void;
  error(line: string): void;
}
