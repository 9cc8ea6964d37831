package cpukern

//go:generate sh -c "cd _asm && go run . -out ../kern_amd64.s -stubs ../stub_amd64.go -pkg cpukern"
