//go:build ignore

// mkgrey makes the greyscale images of this directory from the colour
// originals (scikit-image sample data): luma by the standard library's
// color.GrayModel (ITU-R BT.601 weights), then, with -half, each 2×2 block
// averaged (rounded to nearest).
//
//	go run mkgrey.go [-half] in.png out.png
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
)

func main() {
	half := flag.Bool("half", false, "halve the size by 2×2 averaging")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run mkgrey.go [-half] in.png out.png")
		os.Exit(2)
	}
	if err := convert(flag.Arg(0), flag.Arg(1), *half); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func convert(in, out string, half bool) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		return err
	}
	b := src.Bounds()
	grey := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			grey.Set(x, y, color.GrayModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)))
		}
	}
	if half {
		small := image.NewGray(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
		for y := 0; y < b.Dy()/2; y++ {
			for x := 0; x < b.Dx()/2; x++ {
				s := int(grey.GrayAt(2*x, 2*y).Y) + int(grey.GrayAt(2*x+1, 2*y).Y) + int(grey.GrayAt(2*x, 2*y+1).Y) + int(grey.GrayAt(2*x+1, 2*y+1).Y)
				small.SetGray(x, y, color.Gray{Y: uint8((s + 2) / 4)})
			}
		}
		grey = small
	}
	g, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(g, grey); err != nil {
		g.Close()
		return err
	}
	return g.Close()
}
