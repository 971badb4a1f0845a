package oip_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/implicitlab/implicit/core/model"
	"github.com/implicitlab/implicit/internal/models"
	"github.com/implicitlab/implicit/oip"
)

// A Server serves any api.Inferer: here the embedded digits model, natively,
// on a test listener; Serve runs it on real listeners with graceful
// shutdown.
func ExampleServer() {
	m, err := model.Load(models.DigitsFile())
	if err != nil {
		log.Fatal(err)
	}
	srv, err := oip.New(oip.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Declare("digits"); err != nil {
		log.Fatal(err)
	}
	if err := srv.SetReady("digits", m); err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	two := "0,0,0.3,0.8,0.8,0.1,0,0, 0,0.1,0.9,0.5,0.7,0.6,0,0, 0,0,0,0,0.6,0.5,0,0, 0,0,0,0.3,0.9,0.1,0,0, " +
		"0,0,0.2,0.9,0.4,0,0,0, 0,0,0.7,0.6,0,0,0,0, 0,0,0.9,0.8,0.8,0.8,0.3,0, 0,0,0.3,0.6,0.6,0.6,0.3,0"
	resp, err := http.Post(ts.URL+"/v2/models/digits/infer", "application/json",
		strings.NewReader(`{"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": [`+two+`]}]}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Outputs []struct {
			Name string `json:"name"`
			Data []any  `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		log.Fatal(err)
	}
	best := 0
	for i, v := range r.Outputs[0].Data {
		if v.(float64) > r.Outputs[0].Data[best].(float64) {
			best = i
		}
	}
	fmt.Println(resp.StatusCode, "class", best, r.Outputs[2].Data[0], "after", r.Outputs[1].Data[0], "iterations")
	// Output: 200 class 2 converged after 42 iterations
}
