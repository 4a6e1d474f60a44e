/**
 * The {@code sparge} command-line tool: {@link io.sparge4j.cli.SpargeCli} and its subcommands.
 */
package io.sparge4j.cli;
