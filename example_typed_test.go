package reqivo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/reqivo/reqivo"
)

type User struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func ExampleGetJSON() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/users/1" {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"name":"Ada"}`)
	}))
	defer srv.Close()

	s, err := reqivo.NewSession(reqivo.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	u, _, err := reqivo.GetJSON[User](context.Background(), s, "/users/1")
	fmt.Println(u, err)

	_, _, err = reqivo.GetJSON[User](context.Background(), s, "/users/2")
	var he *reqivo.HTTPError
	if errors.As(err, &he) {
		fmt.Println(he.StatusCode)
	}
	// Output:
	// {1 Ada} <nil>
	// 404
}

func ExamplePostJSON() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":7,"name":"Grace"}`)
	}))
	defer srv.Close()

	s, err := reqivo.NewSession()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	u, resp, err := reqivo.PostJSON[User](context.Background(), s, srv.URL+"/users", User{Name: "Grace"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, u.ID, u.Name)
	// Output:
	// 201 7 Grace
}
