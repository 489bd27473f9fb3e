package reqivo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/reqivo/reqivo"
)

func ExampleResponse_Timings() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for range 2 {
		resp, err := s.Get(context.Background(), srv.URL, reqivo.Trace())
		if err != nil {
			fmt.Println(err)
			return
		}
		t := resp.Timings()
		fmt.Printf("reused=%v connected=%v first byte=%v\n", t.ConnReused, t.Connect > 0, t.TimeToFirstByte > 0)
	}
	// Output:
	// reused=false connected=true first byte=true
	// reused=true connected=false first byte=true
}
