package main

import "strings"

// commandWords turns the library's Go names, which its errors give its
// own users (a program calling WithBackend), into what a user of the
// command types instead: its flags. The file's keys need no such table:
// the library's Config fields that errors name are the keys' names.
var commandWords = strings.NewReplacer(
	"use BackendUserspace", "use --backend userspace",
	"BackendUserspace was requested", "--backend userspace was given",
	"BackendKernel was requested", "--backend kernel was given",
)

// commandText is an error's text in the command's words.
func commandText(err error) string { return commandWords.Replace(err.Error()) }
