package orders

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"

	"github.com/jetflow-dev/jetflow/workflow"
)

var db *sql.DB

// IO does I/O in every package the analyzer knows.
var IO = workflow.New("IO", func(ctx workflow.Context, o Order) (string, error) {
	region := os.Getenv("REGION")                 // want `^os.Getenv in workflow code: do I/O in a step \(steps.New\) and run it with workflow.ExecuteStep$`
	data, err := os.ReadFile("/etc/shop/" + o.ID) // want `^os.ReadFile in workflow code: do I/O`
	if errors.Is(err, os.ErrNotExist) || os.IsNotExist(err) {
		os.Exit(2) // want `^os.Exit in workflow code: do I/O`
	}
	fmt.Fprintln(os.Stdout, region)                 // want `^os.Stdout in workflow code: do I/O`
	f, _ := os.Open("/tmp/x")                       // want `^os.Open in workflow code`
	_, _ = f.Write(data)                            // want `^os.File.Write in workflow code: do I/O`
	out, _ := exec.Command("hostname").Output()     // want `^os/exec.Command in workflow code: do I/O` `^os/exec.Cmd.Output in workflow code: do I/O`
	conn, _ := net.Dial("tcp", "inventory:80")      // want `^net.Dial in workflow code: do I/O`
	_, _ = conn.Write(out)                          // want `^net.Conn.Write in workflow code: do I/O`
	resp, _ := http.Get("http://inventory/" + o.ID) // want `^net/http.Get in workflow code: do I/O`
	req, _ := http.NewRequest("GET", "http://inventory/", nil)
	_, _ = http.DefaultClient.Do(req)    // want `^net/http.DefaultClient in workflow code` `^net/http.Client.Do in workflow code`
	rows, _ := db.Query("SELECT 1")      // want `^database/sql.DB.Query in workflow code: do I/O`
	other, _ := sql.Open("postgres", "") // want `^database/sql.Open in workflow code: do I/O`
	_ = other
	_ = rows
	_ = resp
	_ = net.ParseIP("10.0.0.1").String() + net.JoinHostPort("a", "80") + http.StatusText(200)
	return region, nil
})
