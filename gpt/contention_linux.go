package gpt

import "syscall"

// loadavg reads the running count of /proc/loadavg ("0.52 0.58 0.59
// 3/456 1234": 3) through a descriptor kept open, into a fixed buffer, so
// that a decode step that reads it allocates nothing.
type loadavg struct {
	fd  int
	buf [128]byte
}

func openRunning() runningSource {
	fd, err := syscall.Open("/proc/loadavg", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	l := &loadavg{fd: fd}
	if _, ok := l.running(); !ok {
		l.close()
		return nil
	}
	return l
}

func (l *loadavg) running() (int, bool) {
	if l.fd < 0 {
		return 0, false
	}
	n, err := syscall.Pread(l.fd, l.buf[:], 0)
	if err != nil || n <= 0 {
		return 0, false
	}
	return parseRunning(l.buf[:n])
}

// close closes the descriptor once: CPU.Close and the cleanup of a
// backend dropped without it may both call it, and a second close could
// hit a descriptor number reused by another file.
func (l *loadavg) close() {
	if l.fd >= 0 {
		syscall.Close(l.fd)
		l.fd = -1
	}
}
